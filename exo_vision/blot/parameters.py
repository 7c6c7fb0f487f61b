"""Tuned numbers of band calling, in one named place.

A frozen dataclass, so a set of parameters can be passed around, compared and
recorded with a result; the module-level :data:`BAND_CALLING` is the default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BandCallingParameters:
    """How bands are called from lane profiles.

    Attributes
    ----------
    subtract_sides : bool
        Look for band peaks on the lane profile minus the lower of the two
        background profiles just beside the lane (see
        :func:`exo_vision.blot.background.side_profiles`): a blotch, a
        gradient or a membrane edge runs through the lane *and* the gaps
        beside it, a band only through the lane.
    side_window_lane_widths : float
        Only the slow part of that side profile is subtracted: a grey opening
        (then a mean) over this many lane widths of rows, so a band that
        reaches into the side strips is not subtracted from itself.
    background_window_lane_widths : float
        The slow background under a lane profile is a grey opening whose
        window is this many lane widths (at least 15 rows, at most 70 % of the
        lane): anything taller than that (a membrane seen through a lane, the
        floor between two membranes) is background, never a band. A CD63
        smear is up to ~2.5 lane widths tall.
    max_band_fraction : float
        A detected band taller than this fraction of its lane is not a band
        (a plateau, a membrane edge): it is dropped.
    background_window_band_heights : float
        ... and at most this many times the strip's strongest band's height
        at half maximum (one antibody per strip: its bands are alike), so a
        blotch of a strongly mottled membrane, much taller than a sharp band,
        is background.
    max_height_band_heights, tall_keep_prominence : float
        A bump whose half-height extent exceeds ``max_height_band_heights``
        times the strongest band's is a blotch and dropped, unless
        its prominence reaches ``tall_keep_prominence`` of the strongest.
    min_relative_prominence : float
        A band row is kept only when its strongest band reaches this fraction
        of the strip's strongest band's prominence
        (:data:`exo_vision.blot.bands.MIN_RELATIVE_PROMINENCE`).
    report_undetected : bool
        False (default): a lane reports a band only where its own profile
        shows a peak whose volume clears the lane's limit of detection; a
        band row's position in a lane without a peak is measured only when
        it is *requested* (the strip's marker row, or a marker window), and
        is then called present or "absent, < LoD". True: every band row is
        measured in every lane (the former behaviour).
    """

    subtract_sides: bool = True
    side_window_lane_widths: float = 1.0
    background_window_lane_widths: float = 3.0
    background_window_band_heights: float = 6.0
    max_band_fraction: float = 0.95
    max_height_band_heights: float = 3.0
    tall_keep_prominence: float = 0.5
    min_relative_prominence: float = 0.04
    report_undetected: bool = False


#: Default band-calling parameters.
BAND_CALLING = BandCallingParameters()
