"""EV/lysate enrichment arithmetic, replicate statistics and the MISEV verdict (hand-computed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.panel import (
    ENRICHMENT_COLUMNS,
    SUMMARY_COLUMNS,
    enrichment_table,
    misev_verdict,
    panel_summary,
    replicate_stats,
)


def bands(rows):
    return pd.DataFrame(rows, columns=["marker", "lane_name", "volume", "lod_volume", "present", "saturated"])


PANEL = bands(
    [
        ("CD9", "lysate", 1000.0, 50.0, True, False),
        ("CD9", "exo1", 1500.0, 50.0, True, False),
        ("CD9", "exo2", 2500.0, 50.0, True, False),
        ("CD63", "lysate", 400.0, 40.0, True, False),
        ("CD63", "exo1", 800.0, 40.0, True, False),
        ("CD63", "exo2", 1000.0, 40.0, True, False),
        ("calnexin", "lysate", 2000.0, 30.0, True, False),
        ("calnexin", "exo1", 10.0, 30.0, False, False),
        ("calnexin", "exo2", -5.0, 30.0, False, False),
    ]
)
UG = {"lysate": 20.0, "exo1": 10.0, "exo2": 10.0}


def test_ratio_per_ug_by_hand():
    e = enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG)
    assert list(e.columns) == list(ENRICHMENT_COLUMNS)
    cd9 = e[e.marker == "CD9"].set_index("lane_name")
    # (1500/10) / (1000/20) = 3; (2500/10) / (1000/20) = 5
    assert cd9.loc["exo1", "ratio_to_reference"] == pytest.approx(3.0)
    assert cd9.loc["exo2", "ratio_to_reference"] == pytest.approx(5.0)
    assert cd9.loc["lysate", "ratio_to_reference"] == pytest.approx(1.0)
    assert cd9.loc["exo1", "volume_per_ug"] == pytest.approx(150.0)


def test_ratio_without_ug_is_per_lane():
    e = enrichment_table(PANEL, reference_lane="lysate")
    cd63 = e[e.marker == "CD63"].set_index("lane_name")
    assert cd63.loc["exo1", "ratio_to_reference"] == pytest.approx(2.0)
    assert cd63.loc["exo2", "ratio_to_reference"] == pytest.approx(2.5)
    assert np.isnan(cd63.loc["exo1", "volume_per_ug"])


def test_absent_band_gets_an_upper_bound_sentence():
    e = enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG)
    cnx = e[e.marker == "calnexin"].set_index("lane_name")
    # LoD per µg / lysate per µg = (30/10) / (2000/20) = 0.03 -> 3 %
    assert np.isnan(cnx.loc["exo1", "ratio_to_reference"])
    assert cnx.loc["exo1", "ratio_upper_bound"] == pytest.approx(0.03)
    assert cnx.loc["exo1", "statement"] == (
        "calnexin not detected in exo1: < LoD = 30, i.e. < 3% of the lysate signal per µg loaded"
    )


def test_replicate_statistics_by_hand():
    st = replicate_stats([3.0, 5.0])
    # mean 4, SD sqrt(2), CV sqrt(2)/4, 95 % CI 4 +- t(0.975, 1) * sqrt(2)/sqrt(2) = 4 +- 12.706
    assert st["mean"] == pytest.approx(4.0)
    assert st["sd"] == pytest.approx(np.sqrt(2.0))
    assert st["cv"] == pytest.approx(np.sqrt(2.0) / 4.0)
    assert st["ci_low"] == pytest.approx(4.0 - 12.7062047, rel=1e-6)
    assert st["ci_high"] == pytest.approx(4.0 + 12.7062047, rel=1e-6)
    one = replicate_stats([2.0])
    assert one["n"] == 1 and one["mean"] == 2.0 and np.isnan(one["sd"]) and np.isnan(one["ci_low"])
    three = replicate_stats([1.0, 2.0, 3.0])
    assert three["ci_high"] - three["mean"] == pytest.approx(4.3026527 * 1.0 / np.sqrt(3), rel=1e-6)


def test_misev_panel_passes_and_fails_with_reasons():
    summary = panel_summary(enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    ok, reasons = misev_verdict(summary)
    assert ok and len(reasons) == 3 and all(r.startswith("PASS") for r in reasons)
    s = summary.set_index("marker")
    assert s.loc["CD9", "ratio_mean"] == pytest.approx(4.0)
    # calnexin detected in an EV lane: contamination, the panel fails
    dirty = PANEL.copy()
    dirty.loc[(dirty.marker == "calnexin") & (dirty.lane_name == "exo2"), ["volume", "present"]] = [500.0, True]
    ok, reasons = misev_verdict(panel_summary(enrichment_table(dirty, reference_lane="lysate")))
    assert not ok and any("calnexin detected in EV lane(s) exo2" in r for r in reasons)
    # CD63 missing from an EV lane fails; a marker missing from the panel fails
    weak = PANEL[PANEL.marker != "CD9"].copy()
    weak.loc[(weak.marker == "CD63") & (weak.lane_name == "exo1"), "present"] = False
    ok, reasons = misev_verdict(panel_summary(enrichment_table(weak, reference_lane="lysate")))
    assert not ok
    assert "CD9 missing from the panel" in reasons
    assert any("CD63 not detected in EV lane(s) exo1" in r for r in reasons)


def test_calnexin_absent_everywhere_proves_nothing():
    none = PANEL.copy()
    none.loc[none.marker == "calnexin", "present"] = False
    s = panel_summary(enrichment_table(none, reference_lane="lysate")).set_index("marker")
    assert s.loc["calnexin", "verdict"] == "fail"
    assert "reference lane either" in s.loc["calnexin", "reason"]


def test_bad_panel_input_is_refused():
    with pytest.raises(ValueError, match="reference lane 'cells'"):
        enrichment_table(PANEL, reference_lane="cells")
    with pytest.raises(ValueError, match="µg loaded missing"):
        enrichment_table(PANEL, reference_lane="lysate", ug_loaded={"lysate": 1.0})
    with pytest.raises(ValueError, match="no band carries a marker"):
        enrichment_table(PANEL.assign(marker=""), reference_lane="lysate")
    with pytest.raises(ValueError, match="several bands"):
        enrichment_table(pd.concat([PANEL, PANEL]), reference_lane="lysate")
