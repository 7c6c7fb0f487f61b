"""The grid dock's running summary and histogram count a micrograph saved twice (a renamed byte copy, an 8-bit
export of a 16-bit file) once, as ``exo-vision tem`` and ``report`` count it, and say which inputs were counted
once.

Before, the dock pooled every saved micrograph: the copies' vesicles were counted again (n = 42 against tem's 32
in the probe's grid).
"""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("napari")

from exo_vision.cli.main import main  # noqa: E402
from exo_vision.measure.tables import truth_values  # noqa: E402
from tests.report.test_session_copies import grid_with_copies  # noqa: E402, F401


def test_the_grid_dock_counts_each_micrograph_once(make_napari_viewer, grid_with_copies, tmp_path):  # noqa: F811
    assert main(["tem", str(grid_with_copies), "--out", str(tmp_path / "tem"), "--workers", "1"]) == 0
    tem = pd.read_csv(tmp_path / "tem" / "vesicles.csv")
    tem_n = int((~truth_values(tem["touches_border"])).sum())

    viewer = make_napari_viewer()
    _, session = viewer.window.add_plugin_dock_widget("exo-vision", "Grid session")
    session.synchronous = True
    session.open_grid(grid_with_copies, tmp_path / "session")
    for _ in range(len(session.files) - 1):
        session.next()
    session.save_current()
    assert len(session.tables) == 4
    summary = session._summary.value
    assert summary.startswith("4 micrograph(s) saved (2 the same micrograph as one before them, counted once: ")
    assert (
        "m0_8bit = m0 (the same pixels at another bit depth" in summary and "m0_copy = m0 (identical bytes)" in summary
    )
    assert f"n = {tem_n}" in summary  # before: n = tem_n + the two copies' vesicles
    assert session.statistics["n"] == tem_n
