"""Where a size histogram's diameters come from, said on the figure and in its bin table.

A histogram that leaves the tool (``size_histogram.png``, ``exo-vision histogram``'s figure and bin CSV) carries the
pixel size (or range) and its source, the method and model, the smallest diameter counted, how many vesicles cut by
the image edge were left out, and, when some or all micrographs were segmented too coarse for the outer half
membrane, a note saying so (:mod:`~exo_vision.segmentation.learned.coarse_outlines`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from exo_vision.segmentation.learned.coarse_outlines import limit_words, measured_without_half_membrane

#: Columns the provenance adds to a bin table, after its own (every row holds the same values).
PROVENANCE_COLUMNS = ("pixel_size_nm", "pixel_size_source", "segmenter", "min_diameter_nm", "edge_cut_left_out", "note")

#: Caption characters per mm of figure width (6 pt text).
CAPTION_CHARS_PER_MM = 0.8
#: Fewest caption characters per line.
MIN_CAPTION_CHARS = 20
#: Caption font size (pt).
CAPTION_PT = 6


def segmenter_words(record: Any) -> str:
    """A run.json image record's ``segmenter`` as text: ``"unet, model ev-unet 1.0-int8.2"``, ``"classical"``, or
    "" for a record without one."""
    if not isinstance(record, Mapping) or not record.get("method"):
        return ""
    model = record.get("model")
    name = " ".join(str(model[k]) for k in ("name", "version") if model.get(k)) if isinstance(model, Mapping) else ""
    return f"{record['method']}, model {name}" if name else str(record["method"])


def _span(values: Iterable[float]) -> str:
    found = sorted({float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0})
    if not found:
        return ""
    low, high = f"{found[0]:.3g}", f"{found[-1]:.3g}"
    return low if low == high else f"{low}-{high}"


def coarse_figure_note(n_coarse: int, n_images: int) -> str:
    """A short note for a figure pooling ``n_images`` micrographs of which ``n_coarse`` were segmented without the
    outer half membrane; "" when none was."""
    if n_coarse <= 0:
        return ""
    which = "every micrograph" if n_coarse >= n_images else f"{n_coarse} of {n_images} micrographs"
    return (
        f"{which} coarser than {limit_words()}: outlines without the outer half membrane (generated vesicles under "
        "50 nm 12-19 % small; real patches did not show it: no correction factor)"
    )


def histogram_provenance(
    records: Sequence[Mapping[str, Any]],
    *,
    min_diameters_nm: Iterable[float | None] = (),
    n_edge_left_out: int | None = None,
    pixel_sizes_nm: Iterable[float] = (),
    pixel_sources: Iterable[str] = (),
) -> dict[str, str]:
    """The provenance of a histogram of the micrographs whose run.json image ``records`` are given (each once).

    Parameters
    ----------
    records : sequence of mapping
        run.json image records (``pixel_size_nm``, ``pixel_size_source``, ``segmenter``, ``warnings``).
    min_diameters_nm : iterable of float or None
        The runs' ``min_diameter_nm`` (nm): vesicles under it were not counted.
    n_edge_left_out : int, optional
        Vesicles cut by the image edge left out of the histogram; None when not known.
    pixel_sizes_nm, pixel_sources : iterable
        Pixel sizes (nm) and their sources read from a table without run records (its ``pixel_size_nm`` and
        ``pixel_size_source`` columns), added to the records'.

    Returns
    -------
    dict of str to str
        :data:`PROVENANCE_COLUMNS` to text ("" where not known).
    """
    sizes = [*(r.get("pixel_size_nm") for r in records), *pixel_sizes_nm]
    sources = [*(str(r.get("pixel_size_source") or "") for r in records), *map(str, pixel_sources)]
    segmenters = [segmenter_words(r.get("segmenter")) for r in records]
    minima = _span(m for m in min_diameters_nm if m is not None)
    n_coarse = sum(measured_without_half_membrane(r.get("warnings")) for r in records)
    return {
        "pixel_size_nm": _span(v for v in sizes if v is not None),
        "pixel_size_source": ", ".join(dict.fromkeys(s for s in sources if s)),
        "segmenter": "; ".join(dict.fromkeys(s for s in segmenters if s)),
        "min_diameter_nm": minima,
        "edge_cut_left_out": "" if n_edge_left_out is None else str(int(n_edge_left_out)),
        "note": coarse_figure_note(n_coarse, len(records)),
    }


def provenance_caption(fields: Mapping[str, str], *, width_mm: float) -> str:
    """The provenance as a caption wrapped to a figure ``width_mm`` wide; "" when nothing is known."""
    parts = []
    if fields.get("pixel_size_nm"):
        source = f" ({fields['pixel_size_source']})" if fields.get("pixel_size_source") else ""
        parts.append(f"pixel size {fields['pixel_size_nm']} nm/px{source}")
    if fields.get("segmenter"):
        parts.append(fields["segmenter"])
    if fields.get("min_diameter_nm"):
        parts.append(f"vesicles under {fields['min_diameter_nm']} nm not counted")
    if fields.get("edge_cut_left_out"):
        parts.append(f"{fields['edge_cut_left_out']} vesicle(s) touching the image edge left out")
    if fields.get("note"):
        parts.append(fields["note"])
    if not parts:
        return ""
    # a number stays on the line of its unit
    text = "; ".join(parts).replace(" nm", "\u00a0nm").replace(" %", "\u00a0%")
    return textwrap.fill(text, max(MIN_CAPTION_CHARS, int(width_mm * CAPTION_CHARS_PER_MM)))
