"""Pen writing beside a membrane (a ladder's masses and dashes in marker strokes) is masked; bands never are."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.writing import writing_mask
from exo_vision.io.read import read_image

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
#: Lane centres (px) of the hand-built strip, pitch 90 px; its bands span rows 140-154. The written ladder
#: (columns 150-245) is centred about a pitch left of lane 1, on the lanes' grid.
CENTRES = (290, 380, 470, 560, 650)
LABELS = ("250", "150", "100", "75", "50")
LABEL_ROWS = (60, 130, 200, 270, 340)


def membrane(rng: int = 0) -> np.ndarray:
    """A 400 x 750 raw frame: membrane at 800 counts, one band (60 x 14 px, +6000) per lane."""
    g = np.random.default_rng(rng)
    img = g.normal(800.0, 8.0, (400, 750))
    for c in CENTRES:
        img[140:154, c - 30 : c + 30] += 6000.0
    return img.astype(np.float32)


def with_ladder(img: np.ndarray, stroke_px: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with masses written in its left margin and a dash right of each (marker strokes, +6000),
    and the ink's pixels."""
    ink = np.zeros(img.shape, np.uint8)
    for label, y in zip(LABELS, LABEL_ROWS):
        cv2.putText(ink, label, (150, y), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, stroke_px)
        cv2.line(ink, (215, y - 10), (245, y - 11), 255, stroke_px)
    out = img.copy()
    out[ink > 0] += 6000.0
    return out, ink > 0


def test_written_masses_and_their_dashes_are_masked_and_no_band_is():
    img, ink = with_ladder(membrane())
    mask = writing_mask(img)
    bands = np.zeros(img.shape, bool)
    bands[140:154, 250:700] = True
    assert mask[ink].mean() > 0.95
    assert not (mask & bands).any()


@pytest.mark.parametrize("stroke_px", [2, 4, 6])
def test_a_frame_without_writing_has_no_mask_at_any_pen_width(stroke_px):
    # the pen width only matters with writing; bands alone (sharp, saturated, smeared, scratched) are never writing
    img = membrane()
    img[60:130, 530:590] += 3000.0  # a smear as wide as its lane
    img[100:160, 378:382] += 6000.0  # a thin vertical scratch running into a band
    img[145:149, 440:500] = 65535.0  # a clipped core
    assert not writing_mask(img).any()
    written, _ = with_ladder(img, stroke_px)
    assert writing_mask(written).any()


def test_a_round_blob_at_a_band_end_is_not_writing():
    # the caps of a round knot are narrow for a row or two, never for a stroke's length
    img = membrane()
    yy, xx = np.ogrid[:400, :750]
    img[((yy - 147) / 6.0) ** 2 + ((xx - 322) / 9.0) ** 2 <= 1] += 9000.0
    assert not writing_mask(img).any()


def test_a_written_ladder_in_marker_strokes_moves_no_lane_and_gives_no_band():
    img, _ = with_ladder(membrane())
    result = quantify_blot(img, polarity="bright")
    for lane in result.lanes:  # upright lanes on the bands, top to bottom
        assert [lane.x_top_px, lane.x_bottom_px] == pytest.approx([lane.x_centre_px] * 2, abs=1.0)
    assert [lane.x_centre_px for lane in result.lanes] == pytest.approx(CENTRES, abs=3)
    present = result.bands[result.bands.present]
    assert sorted(present.lane.tolist()) == [1, 2, 3, 4, 5]
    assert present.y_px.to_numpy() == pytest.approx(146.5, abs=1.5)
    # without the removal the written column tilts the lanes (its strokes are read as a lane's slant)
    raw = quantify_blot(img, polarity="bright", params=replace(DEFAULT_BLOT_PARAMETERS, remove_writing=False))
    assert max(abs(lane.x_top_px - lane.x_bottom_px) for lane in raw.lanes) > 10.0


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real test images not present at {DATA}")
def test_a_real_blot_with_a_written_ladder_beside_it_reports_its_own_lanes_and_bands():
    # the ImageQuant actin blot (8 lanes, 2 bands each) with masses and dashes written in a margin at its bands'
    # grey level, 6 px strokes: without the removal 2 lanes more and 7 phantom bands
    img = read_image(DATA / "blots" / "imagequant_raw" / "antiActin 20240710_131425_Ch_Chemi.tif", kind="blot")
    frame = img.data
    h = frame.shape[0]
    ink_level = float(np.percentile(frame, 99.9))
    margin = np.full((h, 150), np.median(frame[:, :20]), dtype=frame.dtype)
    ink = np.zeros(margin.shape, np.uint8)
    for i, label in enumerate(("250", "150", "100", "75", "50", "37")):
        y = round((i + 1) * h / 7)
        cv2.putText(ink, label, (2, y), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 255, 6)
        cv2.line(ink, (100, y - 8), (145, y - 10), 255, 6)
    margin[ink > 0] = ink_level
    written = np.concatenate([margin, frame], axis=1)
    plain = quantify_blot(frame, polarity=img.polarity, max_value=img.max_value)
    result = quantify_blot(written, polarity=img.polarity, max_value=img.max_value)
    assert len(result.lanes) == len(plain.lanes) == 8
    assert [lane.x_centre_px - 150 for lane in result.lanes] == pytest.approx(
        [lane.x_centre_px for lane in plain.lanes], abs=3
    )
    assert result.bands.present.sum() == plain.bands.present.sum() == 16
    assert (result.bands.x_left_px >= 150).all()


def test_removed_writing_is_named_in_a_warning_and_kept_on_request(tmp_path):
    import json

    import tifffile

    from exo_vision.cli.main import main

    written, _ = with_ladder(membrane())
    plain = quantify_blot(membrane(), polarity="bright")
    assert not any("pen writing" in w for w in plain.warnings)
    result = quantify_blot(written, polarity="bright")
    (message,) = [w for w in result.warnings if "pen writing" in w]
    columns = re.search(r"columns (\d+)-(\d+)", message)
    assert columns is not None and "--keep-writing" in message
    # the ink spans columns 150-246 (labels from 150, dashes to 245 and 4 px thick), widened by the mask's 2 px
    assert 144 <= int(columns[1]) <= 150 and 245 <= int(columns[2]) <= 252
    tifffile.imwrite(tmp_path / "written.tif", np.clip(written, 0, 65535).astype(np.uint16))
    for flags, removed in (([], True), (["--keep-writing"], False)):
        out = tmp_path / f"out{len(flags)}"
        assert main(["blot", str(tmp_path / "written.tif"), "--out", str(out), *flags]) == 0
        run = json.loads((out / "run.json").read_text())
        assert run["parameters"]["blot_parameters"]["remove_writing"] is removed
        warned = any("pen writing" in w for w in run["warnings"].get("written.tif", []))
        assert warned is removed


@pytest.mark.parametrize(
    "holes",
    [
        ((-15, 15), (0,), (-12,), (14,), (-16, 16)),  # blocks as thick as they are tall
        ((-18, 2, 20), (-12, 9), (-20, -4, 14), (-8, 16), (-22, 0, 22)),  # thin slivers between close holes too
    ],
)
def test_bands_broken_by_transfer_bubbles_are_not_writing(holes):
    # round holes (air bubbles under the membrane) cut each 60 x 14 px band into pieces: blocks as thick as they
    # are tall, not a pen's thin stroke, and between two close holes thin upright slivers, which are strokes by
    # their shape but lie at the rows of the blocks, as tall as they
    img = membrane()
    yy, xx = np.ogrid[:400, :750]
    for centre, offsets in zip(CENTRES, holes):
        for dx in offsets:
            img[np.hypot(yy - 147, xx - (centre + dx)) <= 7.5] = 800.0
    assert not writing_mask(img).any()
    written, ink = with_ladder(img)
    assert writing_mask(written)[ink].mean() > 0.95
    lanes = [(c - 30.0, c + 30.0) for c in CENTRES]
    result = quantify_blot(img, polarity="bright", lane_x_ranges_px=lanes)
    assert not any("pen writing" in w for w in result.warnings)
    assert sorted(set(result.bands[result.bands.present].lane)) == [1, 2, 3, 4, 5]  # no band lost


def test_writing_on_both_sides_of_the_membrane_is_named_as_two_places():
    """Masses written left and right of the membrane were named as one box over the whole blot (rows 24-334,
    columns 146-1101 here): the warning said writing was removed where the bands are."""
    written, _ = with_ladder(membrane())
    both = np.concatenate([written, written[:, 140:250]], axis=1)  # the same ladder again right of the membrane
    result = quantify_blot(both, polarity="bright")
    (message,) = [w for w in result.warnings if "pen writing" in w]
    places = [(int(a), int(b)) for a, b in re.findall(r"columns (\d+)-(\d+)", message)]
    assert len(places) == 2, message
    (l0, l1), (r0, r1) = places
    assert 144 <= l0 and l1 <= 252 and 750 + 4 <= r0 and r1 <= 750 + 112
    assert result.bands.present.sum() == len(CENTRES)
