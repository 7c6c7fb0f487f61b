"""Fine-tune a learned segmenter on curated micrographs: split, train, compare before and after, write atomically.

The flow, used by ``exo-vision train`` and by the grid session's *Learn from
curated micrographs* (no GUI here):

1. the curated micrographs are split into training and validation
   micrographs by their identity (:func:`split_micrographs`: a micrograph is
   never in both);
2. the starting model's ONNX weights become a PyTorch U-Net
   (:mod:`exo_vision.learn.onnx_weights`);
3. :func:`exo_vision.learn.train.train` fine-tunes it on random crops of the
   training micrographs at the model's working scale, with the same
   pre-processing and augmentations as the original training;
   with 3 or more training micrographs, one of them in five (at least one) is
   held out of the crops as a *selection* micrograph
   (:func:`split_selection`): every ``select_every_steps`` steps the network is
   scored on it through the run-time pipeline, and the best-scoring checkpoint
   (step 0, the starting model, included) is the one exported, as is (trained
   on the other training micrographs only). The validation micrographs are
   never used for any choice;
4. both models segment the validation micrographs through the full run-time
   pipeline (:func:`exo_vision.segmentation.api.segment_vesicles`) and are
   scored with :mod:`exo_vision.evaluation`;
5. the ONNX file and its model card (base model, data, number of curated
   vesicles, before/after figures) are written in a temporary folder beside
   the destination and moved into place only when complete: an interruption
   leaves no model behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from exo_vision.learn.curated import CuratedMicrograph
from exo_vision.learn.settings import FineTuneSettings
from exo_vision.learn.targets import known_near_outlines, with_known

logger = logging.getLogger(__name__)


class FineTuneCancelled(Exception):
    """Fine-tuning was stopped by the user before the model was written."""


def copy_groups(micrographs: list[CuratedMicrograph]) -> dict[str, str]:
    """Which micrographs are copies of one another: ``key`` -> the key that stands for its group.

    Two micrographs are one when their grey levels are equal (same ``key``) or one is an increasing
    affine map of the other up to rounding (an 8-bit export of a 16-bit original, a rescaled copy:
    :func:`exo_vision.batch.duplicates.affine_match`, tried only for pairs whose thumbnails agree).
    """
    from exo_vision.batch.duplicates import pixels_signature, rescaled_copies

    first = {m.key: m for m in reversed(micrographs)}  # one micrograph per key, the first given
    items = sorted(first.values(), key=lambda m: m.key)
    # the batch run's copy check; no pixel size, so a copy calibrated otherwise is still the same micrograph
    records = {i: {"pixels_signature": pixels_signature(m.image), "pixel_size_nm": None} for i, m in enumerate(items)}
    group = {m.key: m.key for m in items}
    for i, j, _ in rescaled_copies(records, lambda i: items[i].image):
        old, new = group[items[j].key], group[items[i].key]
        group = {key: new if root == old else root for key, root in group.items()}
    return group


def leave_out_unoutlined(
    micrographs: list[CuratedMicrograph], *, settings: FineTuneSettings, say: Callable[[str], None]
) -> list[CuratedMicrograph]:
    """With partial outlines, the micrographs that outline no vesicle, left out with one message naming them.

    A micrograph without an outline says nothing when only some vesicles are outlined: trained on, the loss
    sees none of its pixels; validated on, every vesicle found in it would count as a false positive.
    """
    if not settings.partial_outlines:
        return micrographs
    empty = [m.name for m in micrographs if m.n_vesicles == 0]
    if empty:
        say(
            f"{len(empty)} micrograph(s) outline no vesicle ({', '.join(empty)}): with partial outlines they say "
            "nothing (a vesicle the model finds there could be one nobody outlined), so they are left out"
        )
    return [m for m in micrographs if m.n_vesicles > 0]


def split_micrographs(
    micrographs: list[CuratedMicrograph],
    *,
    validation_fraction: float = 0.3,
    seed: int = 0,
    trained_on: Collection[str] = (),
) -> tuple[list[CuratedMicrograph], list[CuratedMicrograph]]:
    """Split into training and validation micrographs; one micrograph is never in both.

    Copies of one micrograph (the same grey levels, or another bit depth or value scale of
    them: :func:`copy_groups`) count as one micrograph and go to the same side.

    Parameters
    ----------
    micrographs : list of CuratedMicrograph
        The curated micrographs.
    validation_fraction : float
        Share of the distinct micrographs held out for validation (at least one).
    seed : int
        Seed of the draw.
    trained_on : collection of str
        Keys (grey-level sha256) of micrographs the starting model was already trained on
        (:func:`trained_on_by`): they go to the training side, never to validation, where the
        starting model would be scored on its own training data.

    Returns
    -------
    (train, validation) : lists of CuratedMicrograph
        At least one micrograph in each (when there are two or more distinct micrographs).

    Raises
    ------
    ValueError
        With fewer than two distinct micrographs, or when every micrograph was used to train the starting model.
    """
    group = copy_groups(micrographs)
    keys = sorted(set(group.values()))
    if len(keys) < 2:
        raise ValueError(
            f"fine-tuning needs at least 2 different curated micrographs (one to learn from, one to check the "
            f"result on); found {len(keys)}. Curate more micrographs in the grid session or add annotated images."
        )
    seen = {group[m.key] for m in micrographs if m.key in set(trained_on)}
    free = [k for k in keys if k not in seen]
    if not free:
        raise ValueError(
            f"all {len(keys)} curated micrographs were used to train the model you start from (its card lists "
            "them): none is left to check the new model on, and figures on them would flatter both models. Curate "
            "at least one micrograph that model never saw, or start from the shipped model."
        )
    order = np.random.default_rng(seed).permutation(len(free))
    n_val = min(max(1, int(round(validation_fraction * len(keys)))), len(keys) - 1, len(free))
    val_keys = {free[k] for k in order[:n_val]}
    train = [m for m in micrographs if group[m.key] not in val_keys]
    validation = [m for m in micrographs if group[m.key] in val_keys]
    return train, validation


def _training_entries(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's own and recorded earlier training micrographs (name and ``sha256_of_grey_levels``)."""
    training = card.get("training")
    data = training.get("data") if isinstance(training, dict) else None
    if not isinstance(data, dict):
        return []
    entries = []
    for key in ("training_micrographs", "earlier_training_micrographs"):
        listed = data.get(key)
        if isinstance(listed, list):
            entries += [e for e in listed if isinstance(e, dict) and isinstance(e.get("sha256_of_grey_levels"), str)]
    return entries


def trained_on_by(card: dict[str, Any], *, card_path: Path | None = None) -> dict[str, str]:
    """Every micrograph a model was fine-tuned on, and those of the models it was fine-tuned from.

    Read from the model card: its ``training.data.training_micrographs`` (selection micrographs
    included), the ``earlier_training_micrographs`` fine-tuning records for the models before it,
    and, for cards written before that record, the starting model's own card (``base_model.card``,
    followed while it is there and still describes the same weights).

    Parameters
    ----------
    card : dict
        The model card.
    card_path : Path, optional
        Where the card lies (a relative ``base_model.card`` is read from its folder).

    Returns
    -------
    dict of str to str
        Grey-level sha256 -> micrograph name. Empty for a model trained on generated micrographs only.
    """
    found: dict[str, str] = {}
    read: set[Path] = set()
    current: dict[str, Any] | None = card
    while current is not None:
        for entry in _training_entries(current):
            found.setdefault(entry["sha256_of_grey_levels"], str(entry.get("name", "?")))
        current, card_path = _base_card(current, card_path, read)
    return found


#: Starting models' cards followed at most by :func:`trained_on_by` (a chain of fine-tunings, or a loop of files).
MAX_CARD_CHAIN = 64

#: Width (nm) of the background ring around each outline that partly outlined micrographs count as known
#: (4 pixels at the shipped model's 3 nm working scale; the boundary target needs one pixel outside).
PARTIAL_RING_NM = 12.0


def _base_card(
    card: dict[str, Any], card_path: Path | None, read: set[Path]
) -> tuple[dict[str, Any] | None, Path | None]:
    """The card of the model ``card`` was fine-tuned from, when it is still there with the same weights."""
    base = card.get("base_model")
    if not isinstance(base, dict) or not isinstance(base.get("card"), str) or len(read) >= MAX_CARD_CHAIN:
        return None, None
    path = Path(base["card"])
    if not path.is_absolute() and card_path is not None:
        path = card_path.parent / path
    try:
        path = path.resolve()
        if path in read or not path.is_file():
            return None, None
        read.add(path)
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(document, dict) or document.get("sha256") != base.get("sha256"):
        return None, None  # another model lies there now: its training says nothing of this one's
    return document, path


def split_selection(
    train: list[CuratedMicrograph], settings: FineTuneSettings
) -> tuple[list[CuratedMicrograph], list[CuratedMicrograph]]:
    """Hold out selection micrograph(s) from the training micrographs (checkpoint selection).

    With at least ``settings.min_micrographs_for_selection`` distinct training
    micrographs and ``settings.select_every_steps > 0``, ``round(select_fraction * n)``
    of them (at least one, and at least two are left to train on), drawn with
    ``settings.seed``, become selection micrographs; otherwise none.

    Returns
    -------
    (fit, selection) : lists of CuratedMicrograph
        Micrographs to train on and micrographs to choose the checkpoint on (possibly empty);
        one micrograph (same ``key``) is never in both.
    """
    keys = sorted({m.key for m in train})
    if settings.select_every_steps <= 0 or len(keys) < max(settings.min_micrographs_for_selection, 3):
        return list(train), []
    n_select = min(max(1, int(round(settings.select_fraction * len(keys)))), len(keys) - 2)
    order = np.random.default_rng([settings.seed, 1]).permutation(len(keys))
    chosen = {keys[k] for k in order[:n_select]}
    return [m for m in train if m.key not in chosen], [m for m in train if m.key in chosen]


def check_enough(
    train: list[CuratedMicrograph], validation: list[CuratedMicrograph], settings: FineTuneSettings
) -> None:
    """Refuse, with the numbers and the fix, when there is too little curated data to train or validate."""
    n_train = sum(m.n_vesicles for m in train)
    n_val = sum(m.n_vesicles for m in validation)
    if n_train < settings.min_train_vesicles or n_val < settings.min_validation_vesicles:
        raise ValueError(
            f"too little curated data: {n_train} vesicles in {len(train)} training micrograph(s) (need "
            f"{settings.min_train_vesicles}) and {n_val} in {len(validation)} validation micrograph(s) (need "
            f"{settings.min_validation_vesicles}). Curate more micrographs (about 5 with 20 or more vesicles each "
            "is a good start)."
        )


def shrink_labels(labels: np.ndarray, *, radius_px: float) -> np.ndarray:
    """Remove from every instance the pixels within ``radius_px`` of another label or the background."""
    if radius_px < 0.5 or labels.max() == 0:
        return labels
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (yy**2 + xx**2 <= radius_px**2 + 0.25).astype(np.uint8)
    lab = labels.astype(np.float32)  # exact for ids below 2**24
    same = (cv2.erode(lab, disk, borderType=cv2.BORDER_REPLICATE) == lab) & (
        cv2.dilate(lab, disk, borderType=cv2.BORDER_REPLICATE) == lab
    )
    return np.where(same, labels, 0).astype(np.int32)


@dataclass
class WorkingScaleMicrograph:
    """A training micrograph at the network's working scale: normalised image and instance labels."""

    image: np.ndarray
    labels: np.ndarray
    known: np.ndarray | None = None


def to_training_micrograph(
    micrograph: CuratedMicrograph, *, working_scale_nm: float, partial_outlines: bool = False
) -> WorkingScaleMicrograph:
    """Resample a curated micrograph to the working scale and normalise it as inference does.

    The curated outlines lie at the membrane's outer edge; the network learnt
    outlines half a membrane further in (the run-time pipeline grows them back,
    :data:`exo_vision.segmentation.learned.method.MEMBRANE_THICKNESS_NM`), so the
    labels are shrunk by that much first. With ``partial_outlines`` only the
    outlined vesicles and a ring of :data:`PARTIAL_RING_NM` around them are known
    (``known``): the rest of the micrograph may hold vesicles nobody outlined.
    """
    from exo_vision.segmentation.learned.method import MEMBRANE_THICKNESS_NM
    from exo_vision.segmentation.learned.network_input import normalise_for_network, to_working_scale

    small = to_working_scale(
        micrograph.image, pixel_size_nm=micrograph.pixel_size_nm, working_scale_nm=working_scale_nm
    )
    labels = shrink_labels(micrograph.labels, radius_px=0.5 * MEMBRANE_THICKNESS_NM / micrograph.pixel_size_nm)
    labels = cv2.resize(labels.astype(np.int32), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    known = known_near_outlines(labels, ring_px=PARTIAL_RING_NM / working_scale_nm) if partial_outlines else None
    return WorkingScaleMicrograph(image=normalise_for_network(small), labels=labels, known=known)


class CropSampler:
    """Random crops of training micrographs with their targets: ``sampler(rng) -> (image, targets)``.

    Micrographs are drawn in proportion to their area; a crop larger than a
    micrograph is padded (image with its median, targets with background).
    When any micrograph has a ``known`` mask (partly outlined micrographs) every
    sample gets a fourth target channel, the loss weight
    (:func:`exo_vision.learn.targets.with_known`): the mask for curated crops, 0 on
    padding, 1 everywhere on generated crops.
    """

    def __init__(
        self,
        micrographs: list[WorkingScaleMicrograph],
        *,
        patch_px: int,
        generated_fraction: float = 0.0,
        working_scale_nm: float = 3.0,
    ) -> None:
        self.micrographs = micrographs
        self.patch_px = int(patch_px)
        self.generated_fraction = float(generated_fraction)
        self.working_scale_nm = float(working_scale_nm)
        areas = np.array([m.image.size for m in micrographs], np.float64)
        self.weights = areas / areas.sum()
        self.partial = any(m.known is not None for m in micrographs)

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from exo_vision.learn.targets import make_targets

        if self.generated_fraction > 0 and rng.random() < self.generated_fraction:
            from exo_vision.learn.data import make_sample

            image, targets = make_sample(self.patch_px, working_scale_nm=self.working_scale_nm, rng=rng)
            return image, with_known(targets, None) if self.partial else targets
        m = self.micrographs[int(rng.choice(len(self.micrographs), p=self.weights))]
        size = self.patch_px
        rows, cols = m.image.shape
        r0 = int(rng.integers(0, max(rows - size, 0) + 1))
        c0 = int(rng.integers(0, max(cols - size, 0) + 1))
        crop = m.image[r0 : r0 + size, c0 : c0 + size]
        image = np.full((size, size), float(np.median(m.image)), np.float32)
        labels = np.zeros((size, size), np.int32)
        image[: crop.shape[0], : crop.shape[1]] = crop
        labels[: crop.shape[0], : crop.shape[1]] = m.labels[r0 : r0 + size, c0 : c0 + size]
        if not self.partial:
            return image, make_targets(labels)
        known = np.zeros((size, size), bool)
        source = m.known if m.known is not None else np.ones(m.labels.shape, bool)
        known[: crop.shape[0], : crop.shape[1]] = source[r0 : r0 + size, c0 : c0 + size]
        return image, with_known(make_targets(labels), known)


def evaluate_model(
    model: str | Path | None,
    micrographs: list[CuratedMicrograph],
    *,
    threads: int = 2,
    sensitivity: float = 0.5,
    each: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Score a model on curated micrographs through the run-time pipeline (at ``sensitivity``).

    ``each``, when given, is called before each micrograph with (micrographs done, micrographs in all); what
    it raises (e.g. :class:`FineTuneCancelled`) stops the scoring.

    Returns
    -------
    figures : dict
        ``precision``, ``recall``, ``f1`` (one-to-one matching at IoU >= 0.5,
        pooled), ``tp``/``fp``/``fn``, ``diameter_error_pct`` (mean absolute
        error of the matched vesicles' equivalent diameters, %) and
        ``diameter_bias_pct`` (mean signed error, %).
    predictions : list of (M, N) ndarray
        The model's labels of each micrograph.
    """
    from exo_vision.evaluation import DetectionScore, score_detection
    from exo_vision.segmentation.api import segment_vesicles

    total = DetectionScore()
    errors: list[float] = []
    predictions = []
    for k, m in enumerate(micrographs):
        if each is not None:
            each(k, len(micrographs))
        pred = segment_vesicles(
            m.image, pixel_size_nm=m.pixel_size_nm, method="unet", model=model, threads=threads, sensitivity=sensitivity
        ).labels
        predictions.append(pred)
        score = score_detection(m.labels, pred)
        total = total + score
        area_t = np.bincount(m.labels.ravel())
        area_p = np.bincount(pred.ravel())
        for a, b, _ in score.matches:
            true_d, pred_d = np.sqrt(area_t[a]), np.sqrt(area_p[b])  # diameters scale as sqrt(area)
            errors.append(100.0 * (pred_d - true_d) / true_d)
    figures = {
        "micrographs": len(micrographs),
        "tp": total.tp,
        "fp": total.fp,
        "fn": total.fn,
        "precision": _round(total.precision),
        "recall": _round(total.recall),
        "f1": _round(total.f1),
        "diameter_error_pct": _round(float(np.mean(np.abs(errors)))) if errors else None,
        "diameter_bias_pct": _round(float(np.mean(errors))) if errors else None,
    }
    return figures, predictions


#: Largest side (working-scale pixels) of the centre crop of a selection micrograph on which the tie-breaking loss is
#: computed.
SELECTION_LOSS_PX = 384


class CheckpointSelector:
    """Score checkpoints on the selection micrographs and keep the best one's weights.

    Called by :func:`exo_vision.learn.train.train` as ``selector(net, steps_done)``.
    A checkpoint's score is the pooled F1 of the run-time pipeline
    (:func:`evaluate_model`, sensitivity 0.5, the starting model's thresholds)
    on the selection micrographs; ties go to the lower training loss on the
    selection micrographs (centre crops of at most :data:`SELECTION_LOSS_PX`
    working-scale pixels), then to the earlier step.

    Parameters
    ----------
    selection : list of CuratedMicrograph
        The selection micrographs (never the validation ones).
    base_card : ModelCard
        The starting model (thresholds, working scale, card fields).
    folder : Path
        Where each checkpoint's ONNX file is written while it is scored (then removed).
    threads : int
        onnxruntime threads.
    """

    def __init__(self, selection: list[CuratedMicrograph], *, base_card: Any, folder: Path, threads: int) -> None:
        from exo_vision.learn.targets import make_targets
        from exo_vision.segmentation.learned.weights import INT8_CARD_KEYS

        self.selection = selection
        # the checkpoints are float networks: an int8 base's quantisation keys do not describe them
        self.card_document = {k: v for k, v in base_card.card.items() if k not in INT8_CARD_KEYS}
        self.multiple_of = int(base_card.multiple_of)
        self.folder = folder
        self.threads = threads
        self.crops = []
        for m in selection:
            small = to_training_micrograph(m, working_scale_nm=base_card.working_scale_nm)
            image, labels = self._centre_crop(small.image), self._centre_crop(small.labels)
            self.crops.append((image.astype(np.float32), make_targets(labels).astype(np.float32)))
        self.scores: list[dict[str, Any]] = []
        self.best_step: int | None = None
        self.best_state: dict[str, Any] | None = None
        self._best_key: tuple[float, float] | None = None

    def _centre_crop(self, array: np.ndarray) -> np.ndarray:
        """The centre of ``array``, at most SELECTION_LOSS_PX a side, sides cut down to multiples of the network's."""
        rows, cols = (min(n, SELECTION_LOSS_PX) // self.multiple_of * self.multiple_of for n in array.shape)
        r0, c0 = (array.shape[0] - rows) // 2, (array.shape[1] - cols) // 2
        return array[r0 : r0 + rows, c0 : c0 + cols]

    def loss(self, net: Any) -> float:
        """Mean training loss of ``net`` on the selection micrographs' centre crops."""
        import torch

        from exo_vision.learn.train import loss_terms

        values = []
        for image, targets in self.crops:
            if min(image.shape) == 0:
                continue
            logits = net(torch.from_numpy(image)[None, None])
            terms = loss_terms(logits, torch.from_numpy(targets)[None])
            values.append(float(torch.stack(list(terms.values())).sum()))
        return float(np.mean(values)) if values else 0.0

    def __call__(self, net: Any, steps_done: int) -> None:
        from exo_vision.learn.export import onnx_bytes

        data = onnx_bytes(net, multiple_of=self.multiple_of)
        self.folder.mkdir(parents=True, exist_ok=True)
        onnx_path = self.folder / f"step_{steps_done}.onnx"
        card = {**self.card_document, "file": onnx_path.name, "sha256": hashlib.sha256(data).hexdigest()}
        try:
            onnx_path.write_bytes(data)
            onnx_path.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
            figures, _ = evaluate_model(onnx_path, self.selection, threads=self.threads)
        finally:
            onnx_path.unlink(missing_ok=True)
            onnx_path.with_suffix(".json").unlink(missing_ok=True)
        loss = self.loss(net)
        f1 = figures["f1"] or 0.0
        self.scores.append(
            {
                "step": steps_done,
                "f1": f1,
                "tp": figures["tp"],
                "fp": figures["fp"],
                "fn": figures["fn"],
                "loss": round(loss, 5),
            }
        )
        logger.debug("checkpoint at step %d: F1 %.3f, loss %.4f on the selection micrograph(s)", steps_done, f1, loss)
        key = (f1, -loss)
        if self._best_key is None or key > self._best_key:
            self._best_key, self.best_step = key, steps_done
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def record(self, every_steps: int) -> dict[str, Any]:
        """What the model card records: the rule, the selection micrographs, every score, the step chosen."""
        return {
            "rule": "one training micrograph in five (at least one; only with 3 or more training micrographs) held "
            "out of the training crops; the checkpoint with the best F1 on it (run-time pipeline, sensitivity 0.5, "
            "IoU >= 0.5; ties: lower loss, then earlier step) is exported as is; the validation micrographs are "
            "never used for this choice",
            "micrographs": [m.name for m in self.selection],
            "every_steps": every_steps,
            "scores": self.scores,
            "chosen_step": self.best_step,
        }


#: What a partly outlined run's figures mean (printed by ``exo-vision train`` and kept in the card).
PARTIAL_FIGURES_NOTE = (
    "partial outlines: precision and F1 are lower bounds (a vesicle the model finds that nobody outlined counts as a "
    "false positive) and recall counts only the outlined vesicles, often the clearest ones; look at the new model's "
    "outlines on a micrograph of yours before you use it"
)

#: What a partly outlined run's card says of its foreground threshold.
PARTIAL_THRESHOLD_NOTE = (
    "the starting model's: the training micrographs are partly outlined, so F1 on them (which counts every vesicle "
    "nobody outlined as a false positive) cannot choose a threshold"
)

#: Sensitivities tried when the fine-tuned model's foreground threshold is chosen on its training micrographs.
SENSITIVITIES = (0.0, 0.25, 0.5, 0.75)


def tune_foreground_threshold(
    onnx_path: Path,
    micrographs: list[CuratedMicrograph],
    *,
    threads: int = 2,
    each: Callable[[int, int], None] | None = None,
) -> tuple[float, dict[float, float]]:
    """The foreground threshold that gives the best F1 on ``micrographs`` (the training ones), and F1 per threshold.

    A fine-tuned network's probabilities are calibrated differently from its
    base's, so its threshold is chosen again, like any tuned number, on data
    other than the validation micrographs. ``each`` is called before each
    segmentation with (segmentations done, segmentations in all: one per
    micrograph and sensitivity).
    """
    from exo_vision.segmentation.learned.method import foreground_threshold
    from exo_vision.segmentation.learned.weights import load_card

    base = load_card(onnx_path).thresholds.foreground
    scores: dict[float, float] = {}
    for i, sensitivity in enumerate(SENSITIVITIES):

        def counted(k: int, n: int, i: int = i) -> None:
            if each is not None:
                each(i * n + k, len(SENSITIVITIES) * n)

        figures, _ = evaluate_model(onnx_path, micrographs, threads=threads, sensitivity=sensitivity, each=counted)
        scores[round(foreground_threshold(base, sensitivity), 4)] = figures["f1"] or 0.0
    best = max(scores, key=lambda t: (scores[t], -abs(t - base)))
    return best, scores


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` wrote and measured.

    Attributes
    ----------
    onnx_path, card_path : Path
        The new model and its card.
    before, after : dict
        :func:`evaluate_model` figures of the starting and the new model on the validation micrographs.
    train, validation : list of CuratedMicrograph
        The split.
    predictions_before, predictions_after : list of ndarray
        Labels of each validation micrograph by the starting and the new model.
    seconds : float
        Training time (CPU wall time of the optimisation).
    selection : dict or None
        The checkpoint selection record (None without selection).
    seen_by_base : list of str
        Training micrographs the starting model (or a model before it) was already trained on: kept out of
        validation, where they would flatter it.
    steps_done, steps_asked : int
        Training steps made, and the most asked for (``settings.steps``).
    time_limit_note : str
        When the time limit stopped the training before ``steps_asked``, the sentence that says so
        (:func:`time_limit_text`); empty otherwise.
    """

    onnx_path: Path
    card_path: Path
    before: dict[str, Any]
    after: dict[str, Any]
    train: list[CuratedMicrograph]
    validation: list[CuratedMicrograph]
    predictions_before: list[np.ndarray] = field(repr=False, default_factory=list)
    predictions_after: list[np.ndarray] = field(repr=False, default_factory=list)
    seconds: float = 0.0
    selection: dict[str, Any] | None = None
    seen_by_base: list[str] = field(default_factory=list)
    steps_done: int = 0
    steps_asked: int = 0
    time_limit_note: str = ""


#: Stages of :func:`fine_tune` around the training, as its ``stage`` callback names them.
STAGE_BEFORE = "scoring the starting model on the held-out micrographs"
STAGE_THRESHOLD = "choosing the new model's threshold on the training micrographs"
STAGE_AFTER = "scoring held-out micrographs with the new model"
STAGE_WRITING = "writing the new model"


def time_limit_text(steps_done: int, settings: FineTuneSettings) -> str:
    """The sentence saying the time limit stopped the training early, or "" when every step asked was made."""
    if steps_done >= settings.steps or settings.max_minutes <= 0:
        return ""
    return (
        f"stopped by the {settings.max_minutes:g}-minute time limit after {steps_done} of {settings.steps} steps "
        "(--minutes raises it, 0 for none; --steps sets the steps)"
    )


def _file_sha256(path: str) -> str | None:
    """The sha256 of the file at ``path`` (an annotation), None when it is not a readable file."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _data_record(
    train: list[CuratedMicrograph],
    validation: list[CuratedMicrograph],
    selection: list[CuratedMicrograph],
    earlier: dict[str, str],
) -> dict[str, Any]:
    def entry(m: CuratedMicrograph) -> dict[str, Any]:
        return {
            "name": m.name,
            "source": m.source,
            "kind": m.kind,
            "pixel_size_nm": m.pixel_size_nm,
            "vesicles": m.n_vesicles,
            "edits": m.n_edits,
            "checked": m.checked,
            "sha256_of_grey_levels": m.key,
            "sha256_of_annotation_file": _file_sha256(m.source),
        }

    return {
        "source": "curated micrographs (fine-tuning)",
        "curated_vesicles": sum(m.n_vesicles for m in train + validation),
        "training_vesicles": sum(m.n_vesicles for m in train),
        "validation_vesicles": sum(m.n_vesicles for m in validation),
        "training_micrographs": [entry(m) for m in train],
        "selection_micrographs": [m.name for m in selection],
        "validation_micrographs": [entry(m) for m in validation],
        # what the models this one was fine-tuned from were trained on: never validated on in a later fine-tuning
        "earlier_training_micrographs": [
            {"name": name, "sha256_of_grey_levels": key} for key, name in sorted(earlier.items())
        ],
        "trained_on_by_the_starting_model": [m.name for m in train if m.key in earlier],
    }


def trained_pixel_sizes(train: list[CuratedMicrograph], *, base: Any) -> list[float]:
    """[smallest, largest] pixel size (nm) of the training micrographs, widened to the range the starting model
    ``base`` (a :class:`~exo_vision.segmentation.learned.weights.ModelCard`) was fine-tuned on, if any: the card's
    ``trained_pixel_size_nm``, against which images segmented with the new model are checked
    (:func:`~exo_vision.segmentation.learned.method.trained_range_warning`)."""
    from exo_vision.segmentation.learned.method import trained_pixel_range

    sizes = [float(m.pixel_size_nm) for m in train]
    earlier = trained_pixel_range(base)
    if earlier is not None:
        sizes += list(earlier)
    return [min(sizes), max(sizes)]


def fine_tune(
    micrographs: list[CuratedMicrograph],
    *,
    out: str | Path,
    base_model: str | Path | None = None,
    settings: FineTuneSettings = FineTuneSettings(),
    split: tuple[list[CuratedMicrograph], list[CuratedMicrograph]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    command: str = "exo_vision.learn.finetune.fine_tune",
    stage: Callable[[str, int, int], None] | None = None,
) -> FineTuneResult:
    """Fine-tune ``base_model`` on curated micrographs and write ``<out>.onnx`` with its card ``<out>.json``.

    Parameters
    ----------
    micrographs : list of CuratedMicrograph
        The curated data (:func:`exo_vision.learn.curated.collect_curated`).
    out : str or Path
        The new model's ``.onnx`` path (the card goes beside it as ``.json``).
    base_model : str or Path, optional
        Model to start from: a shipped model's name or a ``.onnx`` path (default: the shipped model).
    settings : FineTuneSettings
        Training settings.
    split : (train, validation), optional
        A ready split (default :func:`split_micrographs` with the settings' fraction and seed).
    progress : callable(int, int), optional
        Called after every training step with (steps done, steps at most).
    should_stop : callable
        Polled every training step, before every segmentation of the scoring stages and before the model is
        moved into place; True cancels: :class:`FineTuneCancelled` is raised and nothing is written.
    command : str
        Recorded in the card.
    stage : callable(str, int, int), optional
        Called before each segmentation of the stages around the training with (what is done, segmentations
        done, segmentations in the stage): :data:`STAGE_BEFORE`, :data:`STAGE_THRESHOLD`, :data:`STAGE_AFTER`;
        and once with :data:`STAGE_WRITING`.

    Returns
    -------
    FineTuneResult

    Raises
    ------
    ValueError
        Too little curated data, or an unusable base model (the message says why and what to do), or ``out`` or
        its card exists (a model is never overwritten, the starting model least of all).
    FineTuneCancelled
        When ``should_stop`` returned True.
    """
    import torch

    from exo_vision._shared.atomic import TEMP_PREFIX
    from exo_vision.learn.export import export_model
    from exo_vision.learn.onnx_weights import unet_from_onnx
    from exo_vision.learn.train import TrainConfig
    from exo_vision.learn.train import train as run_training
    from exo_vision.segmentation.learned.card_check import TRAINED_PIXEL_SIZES_KEY
    from exo_vision.segmentation.learned.weights import load_card, refuse_overwrite, refuse_shipped_folder

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"the new model's file must end in .onnx, got {out.name}")
    refuse_shipped_folder(out)
    refuse_overwrite((out, out.with_suffix(".json")), choose="another --out name")
    out.parent.mkdir(parents=True, exist_ok=True)
    card = load_card(base_model)
    arch = card.card.get("architecture", {})
    earlier = trained_on_by(card.card, card_path=card.card_path)
    micrographs = leave_out_unoutlined(micrographs, settings=settings, say=logger.warning)
    if split is not None:
        quiet: Callable[[str], None] = lambda _: None  # noqa: E731 (named once above for the whole set)
        split = (
            leave_out_unoutlined(split[0], settings=settings, say=quiet),
            leave_out_unoutlined(split[1], settings=settings, say=quiet),
        )
    train_set, validation = split or split_micrographs(
        micrographs, validation_fraction=settings.validation_fraction, seed=settings.seed, trained_on=earlier
    )
    if {m.key for m in train_set} & {m.key for m in validation}:
        raise ValueError(
            "a micrograph is in both the training and the validation set; pass a split that keeps "
            "each micrograph on one side"
        )
    if seen := [m.name for m in validation if m.key in earlier]:
        raise ValueError(
            f"{', '.join(seen)}: the model you start from ({card.name}) was trained on it; a validation micrograph "
            "must be one no model in the chain was trained on (split with split_micrographs(..., trained_on=...))"
        )
    check_enough(train_set, validation, settings)
    fit, selection = split_selection(train_set, settings)
    logger.info(
        "fine-tuning %s on %d micrograph(s) (%d vesicles), validating on %d (%d vesicles)",
        card.name,
        len(train_set),
        sum(m.n_vesicles for m in train_set),
        len(validation),
        sum(m.n_vesicles for m in validation),
    )
    stopped = False

    def stop() -> bool:
        nonlocal stopped
        stopped = stopped or bool(should_stop())
        return stopped

    def counting(name: str) -> Callable[[int, int], None]:
        """A per-segmentation callback of stage ``name``: reports it and honours a cancel."""

        def each(done: int, total: int) -> None:
            if stage is not None:
                stage(name, done, total)
            if stop():
                raise FineTuneCancelled("fine-tuning cancelled; no model written")

        return each

    before, predictions_before = evaluate_model(
        card.onnx_path, validation, threads=settings.threads, each=counting(STAGE_BEFORE)
    )
    antialias = bool(arch.get("antialias", False))
    net = unet_from_onnx(
        card.checked_float_network(), base=int(arch["base_channels"]), depth=int(arch["depth"]), antialias=antialias
    )
    config = TrainConfig(
        working_scale_nm=card.working_scale_nm,
        base=int(arch["base_channels"]),
        depth=int(arch["depth"]),
        antialias=antialias,
        patch_px=settings.patch_px,
        batch=settings.batch,
        steps=settings.steps,
        max_minutes=settings.max_minutes,
        pool_size=max(4 * settings.batch, 16),
        refresh_every=5,
        refresh_count=settings.batch,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        threads=settings.threads,
        checkpoint_every=10**9,
    )
    sampler = CropSampler(
        [
            to_training_micrograph(
                m, working_scale_nm=card.working_scale_nm, partial_outlines=settings.partial_outlines
            )
            for m in fit
        ],
        patch_px=settings.patch_px,
        generated_fraction=settings.generated_fraction,
        working_scale_nm=card.working_scale_nm,
    )
    threads_before = torch.get_num_threads()
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=out.parent))
    try:
        selector = (
            CheckpointSelector(selection, base_card=card, folder=staging / "selection", threads=settings.threads)
            if selection
            else None
        )
        t0 = time.perf_counter()
        trained, history = run_training(
            config,
            checkpoint_dir=staging / "checkpoints",
            init_weights=net.state_dict(),
            samples=sampler,
            log=logger.debug,
            should_stop=stop,
            progress=progress,
            frozen_batchnorm=True,
            on_checkpoint=selector,
            check_every=settings.select_every_steps if selector is not None else 0,
        )
        seconds = time.perf_counter() - t0
        if stopped:
            raise FineTuneCancelled("fine-tuning cancelled; no model written")
        chosen = None
        if selector is not None and selector.best_state is not None:
            trained.load_state_dict(selector.best_state)
            chosen = selector.record(settings.select_every_steps)
        data = _data_record(train_set, validation, selection, earlier)
        limited = time_limit_text(history["steps_done"], settings)
        staged_onnx, staged_card = export_model(
            trained,
            staging / "model",
            config=asdict(config),
            history=history,
            validation={},
            command=command,
            name=f"{card.name}-finetuned",
            version=f"{card.version}+ft",
            base_model={**card.summary(), "file": card.onnx_path.name},
            training_data=data,
            notes=[
                f"fine-tuned from {card.name} {card.version} on curated micrographs "
                f"({data['curated_vesicles']} curated vesicles); fine-tuning settings {asdict(settings)}",
                *([limited] if limited else []),
            ],
        )
        document = json.loads(staged_card.read_text(encoding="utf-8"))
        document["thresholds"] = dict(card.card.get("thresholds", document["thresholds"]))
        document[TRAINED_PIXEL_SIZES_KEY] = trained_pixel_sizes(train_set, base=card)
        document["training"]["fine_tuning_settings"] = asdict(settings)
        document["training"]["checkpoint_selection"] = chosen or {
            "rule": f"none: fewer than {max(settings.min_micrographs_for_selection, 3)} training micrographs or "
            "select_every_steps = 0; the last step's weights are exported",
            "chosen_step": history["steps_done"],
        }
        staged_card.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        if settings.partial_outlines:  # selective outlines cannot score precision: the base card's threshold stays
            document["training"]["foreground_threshold"] = PARTIAL_THRESHOLD_NOTE
        else:
            threshold, tried = tune_foreground_threshold(
                staged_onnx, train_set, threads=settings.threads, each=counting(STAGE_THRESHOLD)
            )
            document["thresholds"]["foreground"] = threshold
            tuned = {str(k): v for k, v in tried.items()}
            document["training"]["foreground_threshold_f1_on_training_micrographs"] = tuned
        staged_card.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        after, predictions_after = evaluate_model(
            staged_onnx, validation, threads=settings.threads, each=counting(STAGE_AFTER)
        )
        document["file"] = out.name
        document["validation"] = {
            "curated_validation": {
                "method": "exo_vision.segmentation.api.segment_vesicles (unet), one-to-one matching at IoU >= 0.5; "
                "micrographs never used for training, neither by this fine-tuning nor by the models it started "
                "from",
                "micrographs": [m.name for m in validation],
                "before": before,
                "after": after,
                **({"outlines": PARTIAL_FIGURES_NOTE} if settings.partial_outlines else {}),
            }
        }
        staged_card.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        card_out = out.with_suffix(".json")
        counting(STAGE_WRITING)(0, 1)  # the last moment a cancel is honoured: nothing is in place yet
        try:
            os.replace(staged_onnx, out)
            os.replace(staged_card, card_out)  # the card last: a model without its card is never loaded
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        torch.set_num_threads(threads_before)
    return FineTuneResult(
        onnx_path=out,
        card_path=card_out,
        before=before,
        after=after,
        train=train_set,
        validation=validation,
        predictions_before=predictions_before,
        predictions_after=predictions_after,
        seconds=seconds,
        selection=chosen,
        seen_by_base=[m.name for m in train_set if m.key in earlier],
        steps_done=int(history["steps_done"]),
        steps_asked=settings.steps,
        time_limit_note=limited,
    )


def copy_model(onnx_path: str | Path, destination: str | Path) -> Path:
    """Copy a model and its card to ``destination`` (``.onnx``), the card renamed and pointing at the new file.

    Both files are written under temporary names and moved into place, the card last. As ``exo-vision train``
    and ``exo-vision model``, it never overwrites a model (neither the ``.onnx`` nor the ``.json`` may exist)
    and never writes into the package's own models folder.

    Returns
    -------
    Path
        The new ``.onnx`` file.

    Raises
    ------
    ValueError
        When ``destination`` or its card exists, is a folder, or lies in the shipped models' folder.
    """
    from exo_vision._shared.atomic import atomic_write_bytes
    from exo_vision.segmentation.learned.weights import check_model_destination, refuse_overwrite

    source, destination = Path(onnx_path), Path(destination)
    if destination.suffix.lower() != ".onnx":
        destination = destination.with_name(destination.name + ".onnx")
    check_model_destination(destination, option="the destination")
    refuse_overwrite((destination, destination.with_suffix(".json")), choose="another name")
    card = json.loads(source.with_suffix(".json").read_text(encoding="utf-8"))
    card["file"] = destination.name
    destination.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(destination, source.read_bytes())
    atomic_write_bytes(destination.with_suffix(".json"), (json.dumps(card, indent=1) + "\n").encode("utf-8"))
    return destination


def load_training_framework() -> None:
    """Import PyTorch, onnx and the training modules now (in the calling thread).

    Call it from the main thread before fine-tuning in a worker thread: a first
    import of PyTorch inside a worker thread can fail half-way.

    Raises
    ------
    ValueError
        When the ``[train]`` extra is not installed, with the command that installs it.
    """
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401

        import exo_vision.learn.export  # noqa: F401
        import exo_vision.learn.onnx_weights  # noqa: F401
        import exo_vision.learn.train  # noqa: F401
    except ImportError as error:
        raise ValueError(f"fine-tuning needs the training extra ({error}): pip install 'exo-vision[train]'") from None
