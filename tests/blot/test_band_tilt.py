"""A blot turned inside its membrane (no edge in the frame) is named from its bands' rows, and --rotate undoes it."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import tifffile

from exo_vision.blot.band_tilt import band_turn_deg
from exo_vision.blot.quantify import quantify_blot
from exo_vision.cli.main import main

#: Lane centres (px) of the generated membrane, and the row of its band at the frame's centre column.
CENTRES = np.arange(8) * 70 + 95
BAND_ROW = 300


def membrane(rows_of, *, side: int = 720, edge: bool = False, seed: int = 0) -> np.ndarray:
    """A 16-bit membrane filling the frame (or, with ``edge``, laid on a dark frame) with one band per lane.

    ``rows_of(x)`` gives a band's row at column ``x``: the band follows it across its lane, as a real band does.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(float)
    image = np.full((side, side), 2000.0)
    for c in CENTRES:
        inside = np.abs(xx - c) <= 24
        image += inside * 30000.0 * np.exp(-0.5 * ((yy - rows_of(xx)) / 7.0) ** 2)
    if edge:
        image[:40] = image[-40:] = 200.0
        image[:, :30] = image[:, -30:] = 200.0
    return np.round(image + rng.normal(0, 40, image.shape)).clip(0, 65535).astype(np.uint16)


def turned(image: np.ndarray, angle_deg: float, keep: float = 0.7) -> np.ndarray:
    """``image`` turned counter-clockwise on screen by ``angle_deg`` and cropped to its central ``keep``."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    out = cv2.warpAffine(image.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR)
    m0, m1 = int(h * (1 - keep) / 2), int(w * (1 - keep) / 2)
    return np.round(out[m0 : h - m0, m1 : w - m1]).astype(np.uint16)


def turn_warnings(result) -> list[str]:
    return [w for w in result.warnings if "lie along a line turned" in w]


@pytest.mark.parametrize("angle", [-5.0, 4.0])
def test_a_blot_turned_inside_its_membrane_is_named_with_the_angle_to_straighten_by(angle):
    """No membrane edge showed the turn, so the blot was neither straightened nor named: band boxes stayed level
    over tilted bands."""
    image = turned(membrane(lambda x: BAND_ROW + 0 * x), angle)
    result = quantify_blot(image, polarity="bright")
    ((turn, pairs),) = band_turn_deg(result.bands, result.lanes).values()
    assert turn == pytest.approx(angle, abs=0.5) and pairs >= 4
    (warning,) = turn_warnings(result)
    assert f"--rotate {turn:.1f}" in warning and "no membrane edge" in warning


def test_level_bands_a_smile_and_an_askew_gel_with_its_edges_in_view_are_not_named():
    level = quantify_blot(membrane(lambda x: BAND_ROW + 0 * x), polarity="bright")
    smile = quantify_blot(membrane(lambda x: BAND_ROW - 1.5e-4 * (x - 360) ** 2), polarity="bright")
    # bands running askew by 4 degrees on a membrane whose level edges are in the frame: a gel that ran askew
    askew = quantify_blot(membrane(lambda x: BAND_ROW + np.tan(np.radians(4)) * (x - 360), edge=True))
    assert not band_turn_deg(level.bands, level.lanes) and not band_turn_deg(smile.bands, smile.lanes)
    assert len(askew.lanes) == 8 and band_turn_deg(askew.bands, askew.lanes)  # askew indeed, and seen so
    assert not turn_warnings(level) and not turn_warnings(smile) and not turn_warnings(askew)


def test_rotate_on_the_command_line_straightens_and_levels_the_bands(tmp_path):
    tifffile.imwrite(tmp_path / "turned.tif", turned(membrane(lambda x: BAND_ROW + 0 * x), 5.0))
    assert main(["blot", str(tmp_path / "turned.tif"), "--out", str(tmp_path / "as_is")]) == 0
    (before,) = [w for w in json.loads((tmp_path / "as_is" / "run.json").read_text())["warnings"]["turned.tif"]]
    assert "--rotate 5." in before
    assert main(["blot", str(tmp_path / "turned.tif"), "--rotate", "5", "--out", str(tmp_path / "rotated")]) == 0
    warnings = json.loads((tmp_path / "rotated" / "run.json").read_text())["warnings"]["turned.tif"]
    assert not any("lie along a line turned" in w for w in warnings)
    # the angle was the user's: said so, not "the membranes lie turned" (blot50 L1)
    assert any("turned back by +5.0 degrees, as --rotate asked" in w for w in warnings)
    assert not any("membranes lie turned" in w for w in warnings)
    # turned too little: the advice gives the total turn, not the rest alone
    assert main(["blot", str(tmp_path / "turned.tif"), "--rotate", "2", "--out", str(tmp_path / "half")]) == 0
    warnings = json.loads((tmp_path / "half" / "run.json").read_text())["warnings"]["turned.tif"]
    (still,) = [w for w in warnings if "lie along a line turned" in w]
    total = float(re.search(r"--rotate (-?[\d.]+) on the command line: the \+2.0 given", still).group(1))
    assert total == pytest.approx(5.0, abs=0.6)


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--rotate", "90"], "under 45"),
        (["--rotate", "nan"], "under 45"),
        (["--rotate", "3", "--no-straighten"], "use one of the two"),
        (["--rotate", "3", "--lane-ranges", "10-60,80-130"], "leave out --rotate"),
    ],
)
def test_rotate_refuses_what_it_cannot_do(tmp_path, caplog, flags, said):
    tifffile.imwrite(tmp_path / "b.tif", membrane(lambda x: BAND_ROW + 0 * x))
    assert main(["blot", str(tmp_path / "b.tif"), "--out", str(tmp_path / "out"), *flags]) == 2
    assert said in caplog.text
