"""A figure's frame line kept in a crop is masked before lanes are found (exo_vision.blot.rulers.frame_line_mask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.rulers import frame_line_mask

FIGURE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "blots" / "plos_pone.0265461.g006_figure.tif"
#: The BiP panel of the figure (rows, columns): inside its frame line (the benchmark's crop), with the frame line on
#: the crop's edges, and with the frame line and a few pixels of the white page outside it.
INSIDE = (110, 835, 220, 1740)
FRAMED = {"frame on the edge": (107, 838, 217, 1742), "frame and page": (103, 842, 213, 1746)}


def test_a_frame_line_along_an_edge_is_masked_with_what_lies_outside_it():
    rng = np.random.default_rng(0)
    signal = 10.0 + rng.normal(0, 1, (200, 300))
    signal[:, 3:5] = 250.0  # a frame line 3 px inside the left edge (the page outside it stays at 10)
    signal[2:12, 20:280] = 0.0  # a dark margin off the membrane along the top: no frame line
    for x in range(40, 280, 60):
        signal[5:25, x : x + 40] += 200.0  # a row of bands at the top edge: gaps between its lanes
    mask, found = frame_line_mask(signal)
    assert found == ["left (columns 0-6)"]
    assert mask[:, :7].all() and not mask[:, 7:].any()


@pytest.mark.skipif(not FIGURE.is_file(), reason=f"PLOS figure not present at {FIGURE}")
@pytest.mark.parametrize("crop", sorted(FRAMED))
def test_a_figure_crop_with_its_frame_line_finds_the_lanes_of_the_crop_inside_it(crop):
    """Probe H4: a crop that kept the figure's black frame line found 6 of the 10 lanes (the frame on the crop's
    edges) or lanes slanted 0.012 instead of 0.043 column per row (a few pixels of page outside the frame, read
    as the membrane's edges, turned it by 0.9 degrees)."""
    import tifffile

    grey = tifffile.imread(FIGURE)[..., :3].mean(axis=-1).round().astype(np.uint8)

    def lanes(y0, y1, x0, x1):
        res = quantify_blot(grey[y0:y1, x0:x1], polarity="dark")
        return [lane.x_centre_px + x0 for lane in res.lanes], [lane.slope for lane in res.lanes], res.warnings

    inside, inside_slopes, _ = lanes(*INSIDE)
    framed, slopes, warnings = lanes(*FRAMED[crop])
    assert len(framed) == len(inside) and np.abs(np.subtract(framed, inside)).max() <= 3.0
    assert np.abs(np.subtract(slopes, inside_slopes)).max() <= 0.005
    (said,) = [w for w in warnings if "frame line" in w]
    assert "top (rows 0-" in said and "left (columns 0-" in said and "crop inside the frame" in said
