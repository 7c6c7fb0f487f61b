"""A speck of dust in a requested marker window is no band: the window is called absent with a warning.

Frames: the generator's CD9-over-calnexin MISEV frame (seed 0: a clean EV prep, calnexin in the lysate lane only)
with one round speck added in exo2's calnexin window (row 380, column 219), as a dust grain larger than the dust
filter's bound leaves it.
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import MISEV_FRAME_LANES, make_misev_frame

NAMES = list(MISEV_FRAME_LANES)


def _specked(peak: float, sd_px: float) -> np.ndarray:
    """Seed 0's CD9/calnexin frame with a Gaussian speck (``peak`` counts, SD ``sd_px``) in exo2's calnexin window."""
    image = make_misev_frame("CD9", rng=0).image.astype(np.float64)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    image += peak * np.exp(-((yy - 380) ** 2 + (xx - 219) ** 2) / (2 * sd_px**2))
    return np.clip(image, 0, 65535).astype(np.uint16)


@pytest.mark.parametrize(("peak", "sd_px"), [(3000.0, 2.0), (1500.0, 2.5)])
def test_a_speck_in_an_empty_calnexin_window_is_called_absent_and_named(peak, sd_px):
    """The speck's volume clears the window's LoD several times over (a false "cellular contamination"
    before); it is called absent, the warning names the lane and its window, and the lysate keeps its band."""
    res = quantify_blot(_specked(peak, sd_px), lane_names=NAMES, markers=["CD9", "calnexin"])
    t = res.bands
    cnx = t[(t["marker"] == "calnexin") & t["requested"].astype(bool)].set_index("lane_name")
    assert float(cnx.loc["exo2", "volume"]) > 3 * float(cnx.loc["exo2", "lod_volume"])
    assert not bool(cnx.loc["exo2", "present"])
    assert bool(cnx.loc["lysate", "present"])
    assert not cnx.drop(index="lysate")["present"].astype(bool).any()
    named = [w for w in res.warnings if "requested window(s) called ABSENT" in w]
    assert len(named) == 1 and "lane 3 (exo2) calnexin window rows" in named[0]


def test_one_spot_tells_a_dot_from_a_faint_band_across_the_lane():
    """A bright dot in an empty window is one spot; a band across the lane at twice its LoD, or the same dot on
    such a band, is not (hand-built windows, pixel noise SD 10)."""
    from exo_vision.blot.band_rules import one_spot

    g = np.random.default_rng(5)
    rows, cols, sd = 30, 28, 10.0
    lod = 3.3 * sd * np.sqrt(rows * cols)
    yy, xx = np.mgrid[:rows, :cols]
    dot = 1500 * np.exp(-((yy - 14) ** 2 + (xx - 20) ** 2) / (2 * 2.5**2))
    band = np.exp(-0.5 * ((yy - 15) / 4.0) ** 2)
    band *= 2 * lod / band.sum()
    noise = g.normal(0, sd, (rows, cols))
    assert one_spot(dot + noise, pixel_sd=sd, lod=lod)[0]
    assert one_spot(dot + noise, pixel_sd=sd, lod=lod)[1] == 20
    assert not one_spot(band + noise, pixel_sd=sd, lod=lod)[0]
    assert not one_spot(dot + band + noise, pixel_sd=sd, lod=lod)[0]
