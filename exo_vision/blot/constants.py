"""Fixed numbers shared by the blot modules: statistics and method constants that are not user settings.

The user settings (thresholds, windows, factors) are fields of
:class:`exo_vision.blot.parameters.BlotParameters`; what is here is arithmetic the methods rely on, and the
names of the files a marker panel is written to. Only the standard library is imported here, so the CLI's
parser reads it without loading a scientific library.
"""

from __future__ import annotations

#: The slow background under a lane profile is a grey opening at least this many rows long: longer
#: than any sharp band of a blot scanned at the usual 50-150 um per px.
BACKGROUND_WINDOW_MIN_ROWS = 15
#: ... and at most this fraction of the profile, so the opening still has a floor on both sides.
BACKGROUND_WINDOW_MAX_FRACTION = 0.7
#: Profiles shorter than this (rows) hold no band: a peak needs rows on both sides of it.
MIN_PROFILE_ROWS = 5
#: A lane position is on the lane grid when it lies within this fraction of a pitch of a whole number
#: of pitches from a known lane (scanner and pipetting jitter stay well inside it).
ON_GRID_TOLERANCE_PITCHES = 0.25
#: Two lane centres closer than this fraction of a pitch (or of a lane width) are the same lane.
SAME_LANE_PITCHES = 0.6

#: The files a marker panel is written to (by ``exo-vision blot`` and the napari blot dock's export).
PANEL_FILES = ("panel.csv", "panel_summary.csv", "panel.png", "panel.svg")
#: A lane whose name has a word starting with one of these (any letter case; ``lysate2``, ``Cell lysate``,
#: ``blank``, ``empty``, ``negative control``, ``ladder``, ``marker``, ``buffer only``, and the buffer and vehicle
#: controls ``PBS control``, ``DPBS``, ``TBS``, ``vehicle``, ``mock``) is no EV sample: without an explicit list
#: of EV lanes it is left out of the EV replicates (:func:`exo_vision.blot.panel.lane_roles`). "control" alone is
#: not among them: an EV sample may be a control condition ("control EVs").
NOT_EV_WORDS = (
    "lysate",
    "cell",
    "blank",
    "empty",
    "negative",
    "ladder",
    "marker",
    "buffer",
    "pbs",
    "dpbs",
    "tbs",
    "vehicle",
    "mock",
)
#: Words that make a lane name an EV sample whatever else it says ("mock EVs", "EVs in PBS", "EV (empty vector)",
#: "EVs from cell culture"): a whole word of :data:`EV_WORDS_WHOLE` (any letter case) or a word starting with one of
#: :data:`EV_WORD_STARTS` (``exo1``, ``exosomes``, ``vesicles``). Such a lane is an EV replicate by default even when
#: a word of :data:`NOT_EV_WORDS` is in its name too.
EV_WORDS_WHOLE = ("ev", "evs", "sev", "sevs", "lev", "levs")
EV_WORD_STARTS = ("exo", "vesicle", "microvesicle", "extracellular")
#: The words of :data:`NOT_EV_WORDS` that name a negative control (a lane that should show no marker at all): a
#: marker present there is warned (spill-over from the next lane, a loading mix-up, contaminated buffer).
CONTROL_WORDS = ("blank", "empty", "negative", "buffer", "pbs", "dpbs", "tbs", "vehicle", "mock")
#: One-sided 95 % quantile of the standard normal distribution. A band whose true volume equals the LoD is
#: detected only half the time; one of ``LoD + UPPER_BOUND_Z x SD_blank`` is detected with 95 % probability, so
#: that is what an absent call bounds with 95 % confidence (``upper_bound_volume`` in ``panel.csv``).
UPPER_BOUND_Z = 1.6449
#: The confidence of that bound, in words.
UPPER_BOUND_CONFIDENCE = "95 %"
#: A negative marker (calnexin) is called absent from the EVs only when the blot shows it depleted at least
#: 10-fold: every EV lane's 95 % upper bound at most this fraction of the lysate signal (per µg loaded). Above it
#: the blot cannot tell EVs from a few-fold diluted lysate, and the verdict is inconclusive (``calnexin?``).
MAX_ABSENCE_BOUND_FRACTION = 0.10
