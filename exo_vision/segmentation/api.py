"""Segmentation methods behind one interface, chosen by name.

:func:`segment_vesicles` dispatches to a registered method; :func:`available_methods`
lists them for the command line, the GUI, batch runs and benchmarks (none of
which hard-code the names). Every method returns the same
:class:`~exo_vision.segmentation.result.VesicleSegmentation`, so measurement,
overlays and statistics never know which one ran.

* ``unet`` — a small U-Net trained on domain-randomised generated micrographs,
  run with onnxruntime at a working scale of a few nm per pixel, then a seeded
  watershed and full-resolution outlines (:mod:`exo_vision.segmentation.learned`).
* ``classical`` — the threshold-and-rules pipeline of
  :mod:`exo_vision.segmentation.classical`, tuned on the project's first generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from exo_vision._shared.validation import check_diameter_range

if TYPE_CHECKING:  # the methods' modules (and numpy) load when a method runs, so listing them stays instant
    import numpy as np

    from exo_vision.segmentation.result import VesicleSegmentation

#: The method used when none is named.
DEFAULT_METHOD = "unet"


class Segmenter(Protocol):
    """What a segmentation method is: a function of the image and physical parameters."""

    def __call__(
        self,
        image: np.ndarray,
        *,
        pixel_size_nm: float,
        min_diameter_nm: float,
        max_diameter_nm: float,
        sensitivity: float,
        polarity: str,
        exclude_mask: np.ndarray | None,
        progress: Callable[[int, int], None] | None,
        model: str | Path | None,
        threads: int,
    ) -> VesicleSegmentation: ...


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function, a one-line description, and whether it takes a model."""

    segment: Segmenter
    description: str
    uses_model: bool


def _classical(
    image,
    *,
    pixel_size_nm,
    min_diameter_nm,
    max_diameter_nm,
    sensitivity,
    polarity,
    exclude_mask,
    progress,
    model,
    threads,
) -> VesicleSegmentation:
    from exo_vision.segmentation.classical import segment_classical as _segment_classical

    if model is not None:
        raise ValueError("the classical method takes no model; drop --model or choose --method unet")
    result = _segment_classical(
        image,
        pixel_size_nm=pixel_size_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        sensitivity=sensitivity,
        polarity=polarity,
        exclude_mask=exclude_mask,
        progress=progress,
    )
    result.parameters["method"] = "classical"
    return result


def _unet(
    image,
    *,
    pixel_size_nm,
    min_diameter_nm,
    max_diameter_nm,
    sensitivity,
    polarity,
    exclude_mask,
    progress,
    model,
    threads,
) -> VesicleSegmentation:
    from exo_vision._shared.validation import as_float_image, check_pixel_size, check_working_scale
    from exo_vision.segmentation.learned.method import segment_unet, segmentation_warnings, trained_range_warning
    from exo_vision.segmentation.learned.weights import load_card
    from exo_vision.segmentation.result import VesicleSegmentation, exclude_mask_for

    img = as_float_image(image)
    px = check_pixel_size(pixel_size_nm)
    card = load_card(model)
    # the same bounds on the pixel size and the work as the classical method, at the model's finest scale
    factor = card.thresholds.second_scale_factor
    finest_nm = card.working_scale_nm * (min(factor, 1.0) if factor > 0 else 1.0)
    check_working_scale(img.shape, pixel_size_nm=px, working_scale_nm=finest_nm, enlarges=True)
    exclude = exclude_mask_for(img, exclude_mask)
    labels, rejected, found, derived = segment_unet(
        img,
        pixel_size_nm=px,
        exclude=exclude,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        sensitivity=sensitivity,
        polarity=polarity,
        model=card,
        threads=threads,
        progress=progress,
    )
    confidence = derived.pop("instance_confidence")
    objects = derived.pop("instance_boxes")
    parameters = {
        "method": "unet",
        "pixel_size_nm": px,
        "min_diameter_nm": float(min_diameter_nm),
        "max_diameter_nm": float(max_diameter_nm),
        "sensitivity": float(sensitivity),
        "polarity_requested": polarity,
        **derived,
    }
    return VesicleSegmentation(
        labels=labels,
        rejected=rejected,
        polarity=found,
        analysed_mask=~exclude,
        parameters=parameters,
        warnings=[*segmentation_warnings(px, found, card.thresholds), *filter(None, [trained_range_warning(px, card)])],
        confidence=confidence,
        objects=objects,
    )


#: Registered methods by name.
METHODS: dict[str, MethodInfo] = {
    "unet": MethodInfo(_unet, "learned U-Net (onnxruntime), trained on domain-randomised micrographs", True),
    "classical": MethodInfo(_classical, "thresholds and shape rules tuned on the project's first generator", False),
}


def available_methods() -> list[str]:
    """Names of the registered segmentation methods, the default first."""
    return [DEFAULT_METHOD, *sorted(set(METHODS) - {DEFAULT_METHOD})]


def check_method(method: str) -> str:
    """Return ``method`` if registered, else raise a ValueError listing the choices."""
    if method not in METHODS:
        raise ValueError(f"unknown segmentation method {method!r}; choose one of {', '.join(available_methods())}")
    return method


def segment_vesicles(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    method: str = DEFAULT_METHOD,
    model: str | Path | None = None,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    exclude_mask: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 1,
) -> VesicleSegmentation:
    """Segment every extracellular vesicle in a negative-stain TEM micrograph.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey-level micrograph (any real dtype).
    pixel_size_nm : float
        Pixel edge length in nanometres.
    method : str
        A name from :func:`available_methods` (``"unet"`` by default).
    model : str or Path, optional
        For ``unet``: a shipped model's name or the path of a ``.onnx`` model
        with its card beside it (default: the shipped ``ev-unet``).
    min_diameter_nm, max_diameter_nm : float
        Vesicles outside this equivalent-diameter range (nm) are rejected.
    sensitivity : float
        0 (strict) to 1 (permissive); 0.5 by default.
    polarity : {"auto", "bright", "dark"}
        Vesicles lighter ("bright") or darker than the stain; "auto" detects it.
    exclude_mask : (M, N) ndarray of bool, optional
        True where the image must not be analysed (scale bar, label, data strip);
        found automatically by default.
    progress : callable(int, int), optional
        Called as ``progress(done, total)`` while working.
    threads : int
        CPU threads of the network runtime (``unet``).

    Returns
    -------
    VesicleSegmentation
        Labels, rejected candidates with reasons, polarity, analysed area and
        every parameter used (``parameters["method"]``; for ``unet`` also the
        model's name, version and sha256).
    """
    check_method(method)
    check_diameter_range(min_diameter_nm, max_diameter_nm)
    if not 0 <= float(sensitivity) <= 1:
        raise ValueError(f"`sensitivity` must lie in [0, 1], got {sensitivity!r}")
    if polarity not in ("auto", "bright", "dark"):
        raise ValueError(f"`polarity` must be 'auto', 'bright' or 'dark', got {polarity!r}")
    return METHODS[method].segment(
        image,
        pixel_size_nm=pixel_size_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        sensitivity=sensitivity,
        polarity=polarity,
        exclude_mask=exclude_mask,
        progress=progress,
        model=model,
        threads=threads,
    )


def model_summary(method: str, model: str | Path | None = None) -> dict[str, Any] | None:
    """Name, version and sha256 of the model ``method`` would use (None for a method without one)."""
    if not METHODS[check_method(method)].uses_model:
        return None
    from exo_vision.segmentation.learned.weights import load_card

    return load_card(model).summary()


def segmenter_warnings(
    pixel_size_nm: float | None, segmenter: dict[str, Any] | None, polarity: str | None = None
) -> list[str]:
    """The warnings a segmentation by ``segmenter`` (a run record's ``method`` and ``model``) gives for these values.

    Used where labels are saved after curation, with the calibration in use
    then, and the polarity: the learned method's outlines come out small on
    micrographs too coarse for the outer half membrane, and it finds fewer
    vesicles darker than the stain
    (:func:`~exo_vision.segmentation.learned.method.segmentation_warnings`);
    and a fine-tuned model used more than twice outside the pixel sizes it was
    trained on (:func:`~exo_vision.segmentation.learned.method.trained_range_warning`,
    read from its card when the model file recorded is still there with the
    recorded checksum), as ``exo-vision tem`` warns.
    The model's settings are read from the record (``model["settings"]``);
    a record without them (written before they were recorded) is judged by
    its model file, and by the default thresholds when that file cannot be
    read any more.
    """
    info = METHODS.get(str((segmenter or {}).get("method")))
    if info is None or not info.uses_model or pixel_size_nm is None:
        return []
    from exo_vision.segmentation.learned.method import segmentation_warnings, trained_range_warning
    from exo_vision.segmentation.learned.parameters import InstanceThresholds
    from exo_vision.segmentation.learned.weights import WARNING_SETTINGS, load_card

    model = (segmenter or {}).get("model") or {}
    try:
        card = load_card(model.get("file"))
    except ValueError:
        card = None
    recorded = model.get("settings")
    if isinstance(recorded, dict):
        thresholds = InstanceThresholds(**{key: bool(recorded[key]) for key in WARNING_SETTINGS if key in recorded})
    else:
        thresholds = card.thresholds if card is not None else InstanceThresholds()
    found = segmentation_warnings(float(pixel_size_nm), polarity or "bright", thresholds)
    if card is not None and card.sha256 == model.get("sha256"):  # the model the labels were made with
        found.extend(filter(None, [trained_range_warning(float(pixel_size_nm), card)]))
    return found
