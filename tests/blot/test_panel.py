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
    # 95 % bound = LoD + 1.6449 SD, SD = LoD / 3.3 without noise_sd_volume: 30 + 1.6449 * 30 / 3.3 = 44.954;
    # per µg / lysate per µg = (44.954/10) / (2000/20) = 0.04495 -> 4.5 %
    assert np.isnan(cnx.loc["exo1", "ratio_to_reference"])
    assert cnx.loc["exo1", "lod_volume"] == 30.0
    assert cnx.loc["exo1", "upper_bound_volume"] == pytest.approx(30 + 1.6449 * 30 / 3.3)
    assert cnx.loc["exo1", "ratio_upper_bound"] == pytest.approx((30 + 1.6449 * 30 / 3.3) / 10 / 100)
    assert cnx.loc["exo1", "statement"] == (
        "calnexin not detected in exo1: < LoD = 30 grey level x px; 95 % upper bound 45 grey level x px (a band "
        "that strong is detected 95 % of the time), i.e. < 4.5% of the lysate signal per µg loaded"
    )


def test_replicate_statistics_by_hand():
    st = replicate_stats([3.0, 5.0])
    # mean 4, SD sqrt(2), CV sqrt(2)/4; geometric mean sqrt(15) = 3.873;
    # logs 1.09861, 1.60944: SD (1.60944 - 1.09861)/sqrt(2) = 0.361208, so the 95 % interval is
    # exp(1.354025 -/+ 12.7062047 * 0.361208 / sqrt(2)) = 0.150875 .. 99.4199
    assert st["mean"] == pytest.approx(4.0)
    assert st["sd"] == pytest.approx(np.sqrt(2.0))
    assert st["cv"] == pytest.approx(np.sqrt(2.0) / 4.0)
    assert st["geomean"] == pytest.approx(np.sqrt(15.0))
    assert st["ci_low"] == pytest.approx(0.150875, rel=1e-5)
    assert st["ci_high"] == pytest.approx(99.4199, rel=1e-5)
    one = replicate_stats([2.0])
    assert one["n"] == 1 and one["mean"] == 2.0 and np.isnan(one["sd"]) and np.isnan(one["ci_low"])
    # 1, 2, 3: logs' SD 0.555548 -> half-width 4.3026527 * 0.555548 / sqrt(3) = 1.380059 on the log scale
    three = replicate_stats([1.0, 2.0, 3.0])
    assert np.log(three["ci_high"] / three["geomean"]) == pytest.approx(1.380059, rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        replicate_stats([2.0, -1.0])


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
    assert "not detected even in the reference (lysate) lane: inconclusive" in s.loc["calnexin", "reason"]


def test_bad_panel_input_is_refused():
    with pytest.raises(ValueError, match="reference lane 'cells'"):
        enrichment_table(PANEL, reference_lane="cells")
    with pytest.raises(ValueError, match="µg loaded missing"):
        enrichment_table(PANEL, reference_lane="lysate", ug_loaded={"lysate": 1.0})
    with pytest.raises(ValueError, match="no band carries a marker"):
        enrichment_table(PANEL.assign(marker=""), reference_lane="lysate")
    with pytest.raises(ValueError, match="several bands"):
        enrichment_table(pd.concat([PANEL, PANEL]), reference_lane="lysate")


def test_marker_names_that_differ_only_in_case_are_refused_not_overridden():
    # Two spellings used to give two rows, of which the verdict kept the last: a failing row vanished.
    mixed = PANEL.copy()
    mixed.loc[(mixed.marker == "calnexin") & (mixed.lane_name == "exo2"), "marker"] = "Calnexin"
    with pytest.raises(ValueError, match="'calnexin' and 'Calnexin' differ only in letter case"):
        enrichment_table(mixed, reference_lane="lysate")
    summary = panel_summary(enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG))
    failing = summary[summary.marker == "calnexin"].assign(marker="Calnexin", verdict="fail", reason="contaminated")
    ok, reasons = misev_verdict(pd.concat([summary, failing], ignore_index=True))
    assert not ok and "FAIL: contaminated" in reasons  # every row of a marker counts


def test_a_window_above_the_lod_without_a_band_peak_bounds_by_its_volume():
    # No band peak, so absent; but the window holds 45 > LoD 30: the bound starts from 45, never below the measure.
    shaped = PANEL.copy()
    shaped.loc[(shaped.marker == "calnexin") & (shaped.lane_name == "exo1"), "volume"] = 45.0
    e = enrichment_table(shaped, reference_lane="lysate", ug_loaded=UG).set_index(["marker", "lane_name"])
    row = e.loc[("calnexin", "exo1")]
    assert row["ratio_upper_bound"] == pytest.approx(((45.0 + 1.6449 * 30 / 3.3) / 10) / (2000.0 / 20))  # 0.060
    assert (
        "no band peak there, but the window holds 45 grey level x px (above the LoD 30); 95 % upper bound 60"
        in (row["statement"])
    )


def test_replicate_statistics_are_withheld_when_a_replicate_is_censored():
    third = bands([("CD9", "exo3", 20.0, 50.0, False, False)])
    censored = pd.concat([PANEL, third], ignore_index=True)
    s = panel_summary(enrichment_table(censored, reference_lane="lysate")).set_index("marker")
    assert s.loc["CD9", "n_ev_lanes"] == 3 and s.loc["CD9", "n_ev_present"] == 2 and s.loc["CD9", "n_ratios"] == 0
    assert np.isnan(s.loc["CD9", "ratio_mean"]) and np.isnan(s.loc["CD9", "ratio_ci95_low"])
    assert "no replicate statistics: exo3 below the LoD" in s.loc["CD9", "reason"]
    saturated = PANEL.copy()
    saturated.loc[(saturated.marker == "CD63") & (saturated.lane_name == "exo2"), "saturated"] = True
    s = panel_summary(enrichment_table(saturated, reference_lane="lysate")).set_index("marker")
    assert (
        np.isnan(s.loc["CD63", "ratio_mean"]) and "exo2 saturated (ratio only a lower bound)" in s.loc["CD63", "reason"]
    )
    # measured replicates: n_ratios, geometric mean, and an interval that stays positive
    s = panel_summary(enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG)).set_index("marker")
    assert s.loc["CD9", "n_ratios"] == 2 and s.loc["CD9", "ratio_geomean"] == pytest.approx(np.sqrt(15.0))
    assert 0 < s.loc["CD9", "ratio_ci95_low"] < s.loc["CD9", "ratio_geomean"] < s.loc["CD9", "ratio_ci95_high"]


def test_calnexin_absent_with_a_bound_above_the_lysate_level_is_inconclusive():
    # lysate calnexin 200 at 20 µg (10 per µg), LoD 150 at 10 µg, 95 % bound 150 + 1.6449 * 150 / 3.3 = 224.8
    # (22.5 per µg): the EVs could hold 225 % of it
    faint = PANEL.copy()
    faint.loc[(faint.marker == "calnexin") & (faint.lane_name == "lysate"), "volume"] = 200.0
    faint.loc[faint.marker == "calnexin", "lod_volume"] = 150.0
    s = panel_summary(enrichment_table(faint, reference_lane="lysate", ug_loaded=UG)).set_index("marker")
    assert s.loc["calnexin", "verdict"] == "fail"
    assert (
        "inconclusive: the blot can only show calnexin below 225% of the reference lane's signal per µg loaded"
        in (s.loc["calnexin", "reason"])
    )
    s = panel_summary(enrichment_table(PANEL, reference_lane="lysate", ug_loaded=UG)).set_index("marker")
    assert "each < 4.5% of the reference lane's signal per µg loaded, a 95 % upper bound" in s.loc["calnexin", "reason"]


def test_calnexin_in_ev_lanes_but_not_in_the_reference_is_called_contamination():
    odd = PANEL.copy()
    odd.loc[(odd.marker == "calnexin") & (odd.lane_name == "lysate"), "present"] = False
    odd.loc[(odd.marker == "calnexin") & (odd.lane_name == "exo1"), ["volume", "present"]] = [900.0, True]
    s = panel_summary(enrichment_table(odd, reference_lane="lysate")).set_index("marker")
    assert s.loc["calnexin", "verdict"] == "fail"
    assert s.loc["calnexin", "reason"] == (
        "calnexin detected in EV lane(s) exo1 (and not detected in the reference lane): cellular contamination"
    )


def test_replicate_blots_of_one_marker_are_refused_naming_the_images():
    two = pd.concat([PANEL.assign(image="rep1.tif"), PANEL.assign(image="rep2.tif")], ignore_index=True)
    with pytest.raises(ValueError, match=r"'CD9' is in several images \(rep1.tif, rep2.tif\)"):
        enrichment_table(two, reference_lane="lysate")


def test_an_ev_marker_depleted_relative_to_the_lysate_passes_with_a_warning():
    low = PANEL.copy()
    low.loc[(low.marker == "CD9") & (low.lane_name != "lysate"), "volume"] = [60.0, 40.0]  # ratios 0.06, 0.04
    s = panel_summary(enrichment_table(low, reference_lane="lysate")).set_index("marker")
    assert s.loc["CD9", "verdict"] == "pass"
    assert (
        "WARNING: depleted in EVs relative to the reference lane (geometric mean ratio 0.049, 95 % CI below 1)"
        in (s.loc["CD9", "reason"])
    )
    assert "depleted" not in s.loc["CD63", "reason"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["exo1", "Lysate", "exo2"], "Lysate"),
        (["cell lysate", "exo1"], "cell lysate"),
        (["lysate_HEK", "lysate", "exo1"], "lysate"),
        (["lysate A", "lysate B", "exo1"], None),
        (["exo1", "exo2"], None),
        (None, None),
    ],
)
def test_the_default_reference_lane_is_the_lysate_in_any_case_or_none(names, expected):
    from exo_vision.blot.panel import default_reference_lane

    assert default_reference_lane(names) == expected


def test_depletion_is_warned_when_every_ratio_is_an_upper_bound_below_one():
    """A clipped lysate band makes every ratio an upper bound; bounds all below 1 still show depletion."""
    clipped = PANEL.copy()
    lysate = (clipped.marker == "CD9") & (clipped.lane_name == "lysate")
    clipped.loc[lysate, ["volume", "saturated"]] = [40000.0, True]  # ratios 1500/40000 and 2500/40000
    s = panel_summary(enrichment_table(clipped, reference_lane="lysate")).set_index("marker")
    assert s.loc["CD9", "verdict"] == "pass" and np.isnan(s.loc["CD9", "ratio_mean"])
    assert "every ratio at most 0.0625, an upper bound" in s.loc["CD9", "reason"]


def test_censoring_is_said_as_it_is_and_a_missing_reference_is_no_censoring():
    from exo_vision.figures.blot import censoring

    both = PANEL.copy()
    both.loc[(both.marker == "CD9") & both.lane_name.isin(["lysate", "exo2"]), "saturated"] = True
    s = panel_summary(enrichment_table(both, reference_lane="lysate")).set_index("marker")
    assert "undetermined where the EV band is saturated too (exo2)" in s.loc["CD9", "reason"]
    assert [censoring(*flags)[0] for flags in ((False, False), (True, False), (False, True), (True, True))] == [
        "o",
        "^",
        "v",
        "x",
    ]
    no_reference = PANEL.copy()
    no_reference.loc[(no_reference.marker == "CD9") & (no_reference.lane_name == "lysate"), "present"] = False
    no_reference.loc[(no_reference.marker == "CD9") & (no_reference.lane_name == "exo1"), "saturated"] = True
    s = panel_summary(enrichment_table(no_reference, reference_lane="lysate")).set_index("marker")
    assert "no ratios: the reference lane shows no band to divide by" in s.loc["CD9", "reason"]
    assert "lower bound" not in s.loc["CD9", "reason"]


# -- lane roles (blot49 H6: lysate2 and blank were pooled as EV replicates) ----------------------------------------

ROLES = bands(
    [
        ("CD9", "lysate", 1000.0, 50.0, True, False),
        ("CD9", "exo1", 1500.0, 50.0, True, False),
        ("CD9", "exo2", 2500.0, 50.0, True, False),
        ("CD9", "lysate2", 900.0, 50.0, True, False),
        ("CD9", "blank", 10.0, 50.0, False, False),
        ("calnexin", "lysate", 2000.0, 30.0, True, False),
        ("calnexin", "exo1", 10.0, 30.0, False, False),
        ("calnexin", "exo2", -5.0, 30.0, False, False),
        ("calnexin", "lysate2", 1800.0, 30.0, True, False),
        ("calnexin", "blank", 0.0, 30.0, False, False),
    ]
)


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("lysate2", "lysate"),
        ("HEK-lysate", "lysate"),
        ("Cell lysate", "cell"),
        ("HEK cells", "cell"),
        ("blank", "blank"),
        ("Empty", "empty"),
        ("negative ctrl", "negative"),
        ("ladder", "ladder"),
        ("MW marker", "marker"),
        ("buffer only", "buffer"),
        ("exoBlank", "blank"),
        ("exo1", None),
        ("extracellular vesicles", None),
        ("sEV_HEK", None),
    ],
)
def test_lane_names_that_say_no_ev_sample(name, word):
    from exo_vision.blot.panel import not_ev_word

    assert not_ev_word(name) == word


def test_lanes_named_lysate_or_blank_are_not_pooled_as_ev_replicates():
    """Before, every lane but the reference was an EV replicate: lysate2 (a ratio of 0.9) and the blank lane
    (CD9 absent) entered the CD9 statistics and verdict, and the blank's calnexin 'absence' supported the pass."""
    e = enrichment_table(ROLES, reference_lane="lysate")
    roles = e[e.marker == "CD9"].set_index("lane_name")["role"].to_dict()
    assert roles == {"lysate": "reference", "exo1": "EV", "exo2": "EV", "lysate2": "other", "blank": "other"}
    why = e[e.marker == "CD9"].set_index("lane_name")["role_reason"]
    assert why["lysate2"] == "its name says 'lysate'" and why["blank"] == "its name says 'blank'"
    s = panel_summary(e).set_index("marker")
    # only exo1 and exo2: ratios 1.5 and 2.5, all present (the blank's absent CD9 would have failed it)
    assert s.loc["CD9", "n_ev_lanes"] == 2 and s.loc["CD9", "n_ratios"] == 2
    assert s.loc["CD9", "ratio_mean"] == pytest.approx(2.0)
    assert s.loc["CD9", "verdict"] == "pass"
    assert s.loc["CD9", "ev_lanes"] == "exo1, exo2"
    assert s.loc["CD9", "left_out_lanes"] == "lysate2 (its name says 'lysate'); blank (its name says 'blank')"
    assert "not pooled as EV lanes: lysate2 (its name says 'lysate'); blank" in s.loc["CD9", "reason"]
    # calnexin in lysate2 is no contamination of the EVs; the blank is no EV lane it is absent from
    assert s.loc["calnexin", "verdict"] == "pass" and "absent from all 2 EV lanes" in s.loc["calnexin", "reason"]
    from exo_vision.blot.panel import pooled_lanes_line

    assert pooled_lanes_line(panel_summary(e)) == (
        "EV lanes pooled as replicates: exo1, exo2; left out: lysate2 (its name says 'lysate'); "
        "blank (its name says 'blank')"
    )


def test_ev_lanes_given_are_the_pool_and_are_checked():
    e = enrichment_table(ROLES, reference_lane="lysate", ev_lanes=["exo1", "exo2", "blank"])
    s = panel_summary(e).set_index("marker")
    assert s.loc["CD9", "ev_lanes"] == "exo1, exo2, blank" and s.loc["CD9", "verdict"] == "fail"
    assert s.loc["CD9", "left_out_lanes"] == "lysate2 (not among the EV lanes given)"
    with pytest.raises(ValueError, match=r"'exo9' not among the lane names .*--ev-lanes"):
        enrichment_table(ROLES, reference_lane="lysate", ev_lanes=["exo1", "exo9"])
    with pytest.raises(ValueError, match="the reference lane 'lysate' is among them"):
        enrichment_table(ROLES, reference_lane="lysate", ev_lanes=["lysate", "exo1"])
    only_lysates = ROLES[ROLES.lane_name.isin(["lysate", "lysate2"])]
    s = panel_summary(enrichment_table(only_lysates, reference_lane="lysate")).set_index("marker")
    assert s.loc["CD9", "verdict"] == "fail" and "no EV lane to check" in s.loc["CD9", "reason"]


def test_the_ladder_lane_named_as_the_reference_is_named_as_the_conflict():
    """blot49 M8: 'reference lane 'lysate' is not among the lane names' while it was: it was the ladder lane."""
    ladder = ROLES.copy()
    ladder.loc[ladder.lane_name == "lysate", "marker"] = ""
    with pytest.raises(ValueError, match="reference lane 'lysate' carries no marker: it is the ladder lane"):
        enrichment_table(ladder, reference_lane="lysate")


def test_a_window_far_below_zero_gets_no_call_and_fails_the_absence():
    """blot49 M4: a -420 018 volume (noise SD 256) was called absent, < LoD, without a word."""
    deep = PANEL.assign(noise_sd_volume=10.0)
    deep.loc[(deep.marker == "calnexin") & (deep.lane_name == "exo2"), "volume"] = -4200.0
    e = enrichment_table(deep, reference_lane="lysate").set_index(["marker", "lane_name"])
    row = e.loc[("calnexin", "exo2")]
    assert np.isnan(row["ratio_upper_bound"]) and not row["present"]
    assert row["statement"].startswith("calnexin in exo2: no call: the window's volume (-4.2e+03 grey level x px)")
    assert "420 noise SDs below zero" in row["statement"]
    s = panel_summary(enrichment_table(deep, reference_lane="lysate")).set_index("marker")
    assert s.loc["calnexin", "verdict"] == "fail" and "inconclusive: no call in exo2" in s.loc["calnexin", "reason"]
    # -5 (0.5 SD below zero) stays a plain absent call
    assert np.isfinite(e.loc[("calnexin", "exo1"), "ratio_upper_bound"])


def test_a_caveat_goes_into_the_statement_and_the_reason():
    """blot49 H3: the 8-bit caveat was only printed, not carried into panel.csv."""
    e = enrichment_table(PANEL.assign(image="x8.tif"), reference_lane="lysate", caveats={"x8.tif": "8-bit export"})
    cnx = e[(e.marker == "calnexin") & (e.lane_name == "exo1")].iloc[0]
    # (30 + 1.6449 * 30 / 3.3) / 2000 = 2.25 %
    assert cnx.statement.endswith("< 2.25% of the lysate signal (8-bit export)") and cnx.caveat == "8-bit export"
    s = panel_summary(e).set_index("marker")
    assert s.loc["calnexin", "reason"].endswith("; CAVEAT: 8-bit export")
