"""Each stage of the classical method alone: contrast, candidates, checks, refinement, precipitate."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.segmentation.classical.checks import (
    REASON_BACKGROUND,
    REASON_ELONGATED,
    REASON_EXCLUDED,
    REASON_NO_RIM,
    REASON_TOO_SMALL,
    Candidate,
    rim_evidence,
    screen,
    shape_rules,
)
from exo_vision.segmentation.classical.contrast import WorkingContrast, to_working_image, working_contrast
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS as P
from exo_vision.segmentation.classical.pipeline import find_candidates, find_precipitate
from exo_vision.segmentation.classical.refine import FullResolution, edge_offset_nm
from exo_vision.segmentation.classical.shape import is_round_body


def _disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) <= radius


def _candidate(region: np.ndarray, scale_nm: float = 2.0) -> Candidate:
    d_nm = 2.0 * np.sqrt(region.sum() / np.pi) * scale_nm
    return Candidate(1, 0, region.shape[0], 0, region.shape[1], region, region, d_nm)


def test_working_image_shrinks_to_the_working_scale_and_paints_the_excluded_area():
    img = np.full((400, 400), 100.0, np.float32)
    img[300:320, 20:200] = 0.0  # a burnt-in bar
    exclude = np.zeros(img.shape, bool)
    exclude[300:320, 20:200] = True
    work = to_working_image(img, exclude, pixel_size_nm=0.5, params=P)
    assert work.small.shape == (100, 100) and work.scale_nm == pytest.approx(2.0)
    assert work.excluded is not None and work.excluded[77, 20]
    assert np.all(work.small[work.excluded] == 100.0)  # painted with the stain's median


def test_working_contrast_finds_the_polarity_and_makes_vesicles_positive(synthetic_tem):
    image, truth, px = synthetic_tem
    for flip, expected in ((False, "bright"), (True, "dark")):
        img = -image.astype(np.float32) if flip else image.astype(np.float32)
        work = to_working_image(img, np.zeros(img.shape, bool), pixel_size_nm=px, params=P)
        contrast = working_contrast(
            work, polarity="auto", sensitivity=0.5, min_diameter_nm=20.0, max_diameter_nm=500.0, params=P
        )
        assert contrast.polarity == expected
        assert contrast.scores[expected] > contrast.scores["dark" if expected == "bright" else "bright"]
        # vesicle centres are positive in vesicle_z whichever way round the image is
        rows = (
            (truth.vesicles["centroid_y_nm"] / contrast.scale_nm).astype(int).clip(0, contrast.vesicle_z.shape[0] - 1)
        )
        cols = (
            (truth.vesicles["centroid_x_nm"] / contrast.scale_nm).astype(int).clip(0, contrast.vesicle_z.shape[1] - 1)
        )
        assert np.median(contrast.vesicle_z[rows, cols]) > 0


def test_find_candidates_labels_every_vesicle_of_a_clean_image(synthetic_tem):
    image, truth, px = synthetic_tem
    work = to_working_image(image.astype(np.float32), np.zeros(image.shape, bool), pixel_size_nm=px, params=P)
    contrast = working_contrast(
        work, polarity="bright", sensitivity=0.5, min_diameter_nm=20.0, max_diameter_nm=500.0, params=P
    )
    low, high = P.thresholds(0.5)
    coarse = find_candidates(
        contrast, low=low, high=high, sensitivity=0.5, min_diameter_nm=20.0, max_diameter_nm=500.0, params=P
    )
    rows = (truth.vesicles["centroid_y_nm"] / contrast.scale_nm).astype(int)
    cols = (truth.vesicles["centroid_x_nm"] / contrast.scale_nm).astype(int)
    assert np.mean(coarse[rows, cols] > 0) >= 0.8


def test_screen_rejects_background_excluded_and_specks():
    big = np.ones((50, 50), bool)
    assert screen(_candidate(big), working_shape=(60, 60), excluded=None, min_diameter_nm=20.0, params=P)[0] == (
        REASON_BACKGROUND
    )
    disk = _disk((40, 40), (20, 20), 8)
    excluded = np.ones((40, 40), bool)
    assert (
        screen(_candidate(disk), working_shape=(400, 400), excluded=excluded, min_diameter_nm=20.0, params=P)[0]
        == REASON_EXCLUDED
    )
    speck = _disk((40, 40), (20, 20), 1.5)  # ~5 nm across at 2 nm/px: far below 20 nm even with a membrane
    reason, diameter_nm = screen(
        _candidate(speck), working_shape=(400, 400), excluded=None, min_diameter_nm=20.0, params=P
    )
    assert reason == REASON_TOO_SMALL and diameter_nm == pytest.approx(_candidate(speck).coarse_diameter_nm + 8.0)
    assert screen(_candidate(disk), working_shape=(400, 400), excluded=None, min_diameter_nm=20.0, params=P) is None


def test_shape_rules_reject_a_rod_and_strip_one_lying_across_a_vesicle():
    rod = np.zeros((60, 60), bool)
    rod[28:32, 5:55] = True
    coarse, territory = rod.astype(np.int32), rod.astype(np.int32)
    reason, _ = shape_rules(
        _candidate(rod),
        coarse=coarse,
        territory=territory,
        scale_nm=2.0,
        min_diameter_nm=20.0,
        max_diameter_nm=500.0,
        params=P,
    )
    assert reason == REASON_ELONGATED
    # a vesicle (radius 12 px) with a long thin rod through it keeps its body
    body = _disk((80, 160), (40, 80), 12)
    crossed = body.copy()
    crossed[39:42, 0:160] = True
    coarse, territory = crossed.astype(np.int32), crossed.astype(np.int32)
    cand = _candidate(crossed)
    reason, stripped = shape_rules(
        cand, coarse=coarse, territory=territory, scale_nm=2.0, min_diameter_nm=20.0, max_diameter_nm=500.0, params=P
    )
    assert reason is None and [r for r, _ in stripped] == [REASON_ELONGATED]
    assert is_round_body(cand.region, P) and cand.region[40, 80] and not cand.region[40, 5]
    assert coarse[40, 5] == 0  # the rod left the candidate image too


def test_rim_evidence_needs_a_dark_ring():
    region = _disk((60, 60), (30, 30), 10)
    ring = _disk((60, 60), (30, 30), 14) & ~region
    vesicle_z = np.where(region, 6.0, 0.0).astype(np.float32)
    coarse = region.astype(np.int32)
    without = rim_evidence(
        _candidate(region), vesicle_z=vesicle_z, coarse=coarse, scale_nm=2.0, min_diameter_nm=20.0, high=5.0, params=P
    )
    assert without.reason == REASON_NO_RIM
    vesicle_z[ring] = -4.0
    with_rim = rim_evidence(
        _candidate(region), vesicle_z=vesicle_z, coarse=coarse, scale_nm=2.0, min_diameter_nm=20.0, high=5.0, params=P
    )
    assert with_rim.reason is None and with_rim.outside < -1.0


def test_edge_offset_is_the_half_level_plus_one_membrane():
    # interior at 10 up to -1 nm, a linear fall to 0 at +1 nm (half-level at 0 nm), valley at 0
    d = np.arange(-15.0, 15.0, 0.5)
    v = np.clip(5.0 - 5.0 * d, 0.0, 10.0)
    offset = edge_offset_nm(d, v, noise=0.1, params=P)
    assert offset == pytest.approx(0.0 + P.membrane_thickness_nm, abs=1e-9)
    assert edge_offset_nm(d, np.full_like(d, 3.0), noise=0.1, params=P) is None  # no step: no edge


def test_precipitate_is_a_dark_blob_away_from_vesicles():
    vesicle_z = np.zeros((100, 100), np.float32)
    vesicle_z[_disk((100, 100), (50, 50), 6)] = -20.0
    contrast = WorkingContrast(vesicle_z, 2.0, None, "bright", {})
    full = FullResolution(np.zeros((100, 100), np.float32), 1.0, 2.0, 1.0, 1.0)
    rows = find_precipitate(contrast, np.zeros((100, 100), np.int32), full, accepted=[], lighter=[], high=5.0, params=P)
    assert len(rows) == 1 and rows[0]["centroid_x_nm"] == pytest.approx(100.0, abs=1.0)
    assert rows[0]["reason"].startswith("stain precipitate")
