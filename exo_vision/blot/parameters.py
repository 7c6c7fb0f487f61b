"""The tuned numbers of blot quantification, in one validated, frozen model.

:class:`BlotParameters` holds every method setting of :func:`exo_vision.blot.quantify.quantify_blot`
(background, LoD, lane finding, band calling) with its unit in its name; per-image inputs (polarity,
lanes, markers, a ladder) stay arguments of that function. The core, the CLI (``exo-vision blot``)
and the napari blot dock all build one :class:`BlotParameters` and pass it on; the module-level
:data:`DEFAULT_BLOT_PARAMETERS` is the default, and the modules' named constants are read from it.
A result records ``to_dict()`` so a run can be repeated with :meth:`BlotParameters.from_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Background methods (see :mod:`exo_vision.blot.background`).
BACKGROUND_METHODS = ("profile", "border", "rolling_ball", "rolling_disk", "none")
#: Orders of the differences a lane profile's noise SD may be read from.
NOISE_DIFFERENCE_ORDERS = (1, 2)
#: Fields that are fractions in (0, 1].
FRACTIONS = (
    "central_fraction",
    "merge_valley_fraction",
    "smear_merge_valley_fraction",
    "max_band_fraction",
    "min_relative_prominence",
    "tall_keep_prominence",
    "band_scale_min_side_fill",
    "end_lane_tolerance_pitches",
    "lane_sizeable_peak_fraction",
    "strong_lane_prominence_fraction",
    "gel_dark_fraction",
    "gel_bright_fraction",
    "gel_edge_margin_fraction",
    "gel_gap_off_fraction",
    "well_window_fraction",
    "well_min_depth_fraction",
    "well_min_column_fraction",
    "well_max_height_fraction",
    "min_tier_height_fraction",
    "well_tilt_reach_fraction",
    "well_margin_fraction",
    "well_margin_above_fraction",
    "well_min_width_fraction",
    "well_split_gap_fraction",
    "well_regular_width_fraction",
    "well_dark_row_fraction",
    "well_even_tolerance",
    "gel_band_lane_wide_fraction",
    "gel_band_min_steepness_fraction",
)
#: Fields that are positive numbers.
POSITIVE = (
    "rolling_ball_radius_px",
    "lod_factor",
    "dust_noise_sds",
    "min_lane_width_px",
    "lane_peak_noise_sds",
    "faint_lane_peak_noise_sds",
    "lane_window_band_heights",
    "band_peak_noise_sds",
    "side_window_lane_widths",
    "background_window_lane_widths",
    "background_window_band_heights",
    "max_height_band_heights",
    "gel_smoothing_px",
    "well_depth_search_step",
    "well_min_periodicity",
)


@dataclass(frozen=True)
class BlotParameters:
    """How a blot is measured: background, detection limit, lane finding and band calling.

    Attributes
    ----------
    background : {"profile", "border", "rolling_ball", "rolling_disk", "none"}
        Background method (see :mod:`exo_vision.blot.background`).
    rolling_ball_radius_px : float
        Ball radius of ``"rolling_ball"`` (2-D, ImageJ) and ``"rolling_disk"`` (lane profile), px.
    central_fraction : float
        Fraction of the lane width whose columns (its centre, away from neighbour bleed) detect a band, test it
        against the LoD and set its background, 0 < f <= 1. With ``measure_band_extent`` a band's volume is then
        carried to its own width (:mod:`exo_vision.blot.band_extent`).
    measure_band_extent : bool
        True (default): each band's volume, LoD and box span the band's own extent across its lane, read from its
        cross-lane profile up to the neighbouring lanes (:mod:`exo_vision.blot.band_extent`); a band wider than
        the central columns is not read low against a narrower one. False: volumes and boxes are those of the
        central columns alone.
    gel_measure_band_extent : bool
        ``measure_band_extent`` used by :func:`exo_vision.blot.gel.quantify_gel` (default False): a gel's band
        filters (:func:`exo_vision.blot.gel.lane_wide`, :func:`exo_vision.blot.gel.steepness`) read the band's box,
        and were set on the lane's central columns.
    border_px : int
        Rows above and below a band that give its background.
    lod_factor : float
        Limit of detection = mean blank volume + ``lod_factor`` x SD of blank volumes.
    remove_dust_specks : bool
        Replace small bright specks before measuring.
    remove_writing : bool
        Replace pen-written labels (a ladder's masses, lane numbers) and the dashes beside them before finding
        lanes and measuring (:mod:`exo_vision.blot.writing`): written in ink that shines like a band, in
        strokes thicker than the lane finder's opening removes, a column of labels reads as narrow lanes.
    dust_max_size_px : int
        Largest speck (pixels) treated as dust.
    dust_noise_sds : float
        A speck stands at least this many pixel-noise SDs above the image's grey opening (a speck-free
        background) around it.
    undo_staircase : bool
        For integer images whose pixel noise is below one grey level (8-bit exports), correct lane
        row means for rounding (:mod:`exo_vision.blot.quantisation`; ``"profile"`` background only).
    min_strip_height_px : int
        Shortest membrane strip accepted by the strip finder, rows.
    min_lane_width_px : float
        Narrowest lane accepted by the lane finder, px.
    max_lane_tilt_deg : float
        Largest lane tilt relative to the membrane's edges that the lane finder fits, degrees.
    lane_peak_noise_sds : float
        A strong lane is a column-profile peak this many profile-noise SDs high.
    faint_lane_peak_noise_sds : float
        A faint lane (on the band rows of the strong lanes) is a peak this many noise SDs high.
    lane_sizeable_peak_fraction : float
        Column-profile peaks at least this fraction of the strongest's prominence are sizeable; the
        third strongest sizeable peak is the reference of the strong lanes (so one or two saturated
        lanes do not make the rest weak) ...
    strong_lane_prominence_fraction : float
        ... and a strong lane (which sets the lane width and pitch) reaches this fraction of that
        reference's prominence.
    lane_window_band_heights : float
        The lane finder's background window, in heights (rows at half height) of the strip's
        strongest band: taller than any sharp band, much shorter than a blotch.
    end_lane_tolerance_pitches : float
        A blank end lane is added when the two membrane margins differ by a whole number of lane
        pitches within this fraction of a pitch.
    band_peak_noise_sds : float
        A band is a lane-profile peak at least this many profile-noise SDs high.
    merge_valley_fraction : float
        Two neighbouring peaks are one band when the valley between them stays above this fraction
        of the lower peak.
    smear_merge_valley_fraction : float
        The same for markers that run as a smear (``smear_markers``): a smear's bumps are one band.
    smear_markers : tuple of str
        Markers (lower case) integrated as one smear, e.g. glycosylated CD63.
    min_relative_prominence : float
        A band row is kept only when its strongest band reaches this fraction of the strip's
        strongest band's prominence.
    subtract_sides : bool
        Look for band peaks on the lane profile minus the lower of the two background profiles just
        beside the lane: a blotch, a gradient or a membrane edge runs through the lane *and* the gaps
        beside it, a band only through the lane.
    side_window_lane_widths : float
        Only the slow part of that side profile is subtracted: a grey opening (then a mean) over this
        many lane widths of rows, so a band that reaches into the side strips is not subtracted from
        itself.
    side_window_min_px : int
        ... and over at least this many rows.
    background_window_lane_widths : float
        The slow background under a lane profile is a grey opening whose window is this many lane
        widths (at least 15 rows, at most 70 % of the lane): anything taller (a membrane seen through
        a lane, the floor between two membranes) is background. A CD63 smear is up to ~2.5 lane
        widths tall.
    background_window_band_heights : float
        ... and at most this many heights (at half maximum) of the strip's strongest band, so a
        blotch of a strongly mottled membrane, much taller than a sharp band, is background.
    max_band_fraction : float
        A detected band taller than this fraction of its lane (a plateau, a membrane edge) is dropped.
    max_height_band_heights : float
        A bump whose half-height extent exceeds this many times the strongest band's is a blotch and
        is dropped ...
    tall_keep_prominence : float
        ... unless its prominence reaches this fraction of the strongest band's, or it holds a saturated
        pixel (a blotch never reaches the clipping level; an over-exposed band row runs together into a
        tall bump).
    drop_tall_bands : bool
        True (default): the two settings above apply. False: a bump is not dropped for its height.
    gel_drop_tall_bands : bool
        ``drop_tall_bands`` used by :func:`exo_vision.blot.gel.quantify_gel` (default False). A blot strip
        carries one antibody, so its bands are alike and a much taller bump is a blotch; a gel's lanes
        hold a ladder of sharp bands beside round, diffuse sample bands several times taller, and a gel
        has no blotches (its glow is dropped by steepness, ``gel_band_min_steepness_fraction``).
    merge_clipped_runs : bool
        True (default): bumps of a lane's side-corrected profile inside one run of clipped rows (central
        pixels mostly saturated) are one band, the lane's own band over the run: an over-exposed band
        clipped flat, whose edges would read as two bands.
    gel_merge_clipped_runs : bool
        ``merge_clipped_runs`` used by :func:`exo_vision.blot.gel.quantify_gel` (default False): a gel's
        ladder runs several clipped bands together, and the bumps there are its bands.
    trim_saturated_glow : bool
        True (default): a band whose rows hold a saturated pixel ends at the knees of its flanks, where the
        profile stops falling steeply: the glow around an over-exposed band, which falls slowly for a hundred
        rows, lies outside its window, and its background is read on the glow beside it
        (:func:`exo_vision.blot.bands.detect_bands`). False: its window runs down to the glow's foot.
    gel_trim_saturated_glow : bool
        ``trim_saturated_glow`` used by :func:`exo_vision.blot.gel.quantify_gel` (default False): a gel's band
        filters were set on windows that hold the glow.
    split_clear_dips : bool
        False (default): two neighbouring maxima of a lane profile are one band while the valley between them
        stays above ``merge_valley_fraction`` of the lower (a smear's bumps). True: they are also two bands when
        the dip between them is clear: both rise ``band_peak_noise_sds`` profile-noise SDs above the valley, and
        the weaker at least a quarter as far as the stronger, and neither lies on a row holding a saturated pixel
        (:func:`exo_vision.blot.bands.detect_bands`).
    gel_split_clear_dips : bool
        ``split_clear_dips`` used by :func:`exo_vision.blot.gel.quantify_gel` (default True): a DNA ladder's
        packed bands, or two fragments of close length, run a few rows apart with a valley only 10-30 % deep
        between them, and each is a band of its own; a much weaker bump beside a band (its glow) stays part of it,
        and a saturated ladder run (its dips shaped by clipping) is parted as before.
    gel_remove_writing : bool
        ``remove_writing`` used by :func:`exo_vision.blot.gel.quantify_gel` (default False): a gel's wells are
        bright rings, as round and thin as a written "0", and its labels are typed beside the gel.
    band_scale_min_side_fill : float
        The strongest band's height sets the scale above; a lane's highest bump votes on it only
        when the lane's weaker side third rises at least this fraction of its stronger side third
        over the bump's rows (a band spans its lane; a pen dash on the margin reaches into one side
        of an end lane), as long as some lane's bump does.
    max_side_share : float
        A band window whose net signal both side strips beside the lane and the blank membrane beyond the
        outermost lanes share by at least this fraction (each one's rise over the window, above the straight
        line between the window's border rows, over the lane's) runs across the membrane: a row of banding,
        not a band. It is not "present", unless it holds a saturated pixel (an over-exposed band blooms into
        the gaps). The margins matter where lanes touch and the side strips hold the neighbours' bands. The
        unsaturated bands of the real blots in ``benchmarks/blot_truth`` reach at most 0.62 of theirs beside
        the lane, such textures 0.7-1.2. 0 turns the rule off.
    gel_max_side_share : float
        ``max_side_share`` used by :func:`exo_vision.blot.gel.quantify_gel` (default 0: off). A gel's
        sample bands are round and spread past the lane its wells give, and its glow rises beside the
        lanes as much as in them (their side shares reach 1-3), so on gels the rule would drop real bands.
    band_lane_wide_fraction : float
        A band detected in a lane must run across it: its equivalent width (its column sums, net of background,
        over their smoothed highest) is at least this fraction of the lane's central columns (see
        :func:`exo_vision.blot.band_rules.spans_lane`), or its net volume clears the limit of detection of a third
        of the lane in each third of its columns (:func:`exo_vision.blot.band_rules.clears_every_part`: a band
        loaded unevenly across its lane). A speck, a dot or a blob narrower than that is not a band (a band is
        loaded from a well as wide as its lane). The same value as ``gel_band_lane_wide_fraction``. Requested
        positions (marker windows) are measured whatever their shape. 0 turns the rule off.
    report_undetected : bool
        False (default): a lane reports a band only where its own profile shows a peak whose volume
        clears the lane's limit of detection; a band row's position in a lane without a peak is
        measured only when requested (the strip's marker row, or a marker window), and is then called
        present or "absent, < LoD". True: every band row is measured in every lane.
    gel_smoothing_px : float
        Gels only (:mod:`exo_vision.blot.gel`): median-filter size, px, of the image the gel's outline
        and well rows are read from.
    gel_dark_fraction : float
        A pixel whose signal is below this fraction of the gel's level (the median of the image's
        central quarter) is the dark surround, off the gel ...
    gel_bright_fraction : float
        ... and one whose signal reaches this fraction of the image's top level (99.9th percentile), in a
        bright region that reaches the image border, is a bright object beside the gel (a glove, a white
        label strip; a saturated band inside the gel stays gel). A column or row in which more than half
        the pixels are off the gel is off; the gel's box is the run of the other columns (rows) over the
        image's centre.
    gel_edge_margin_fraction : float
        Rows (columns) at the gel's top and bottom (left and right) edge dropped, as a fraction of the
        gel's height (width): the cut edges shine. Also, as the same fraction of the image's height
        (width), the shortest run of off rows (columns) that ends the gel's box (a dark gap; a row of
        wells is narrower) and the shortest on-gel run that an off run may not enclose (the gaps between
        lines of a label strip's text are narrower).
    gel_gap_off_fraction : float
        A narrower run of off rows (columns) ends the gel's box too when one of its rows (columns) is at
        least this fraction off the gel: a dark line nearly all along is the gap between the gel's edge
        and a glove or another gel beside it (a row of wells is gel between its wells).
    well_window_fraction : float
        A well is read against the gel above and below it: a vertical grey closing over this fraction
        of the gel's height, taller than any well.
    well_min_depth_fraction : float
        A pixel is in a well when it lies this fraction of the gel's level below that closing ...
    well_depth_search_step : float
        The wells are also read at ``well_min_depth_fraction`` divided and multiplied by this step (>= 1;
        1 reads one depth only), and the reading with the most wells is kept
        (:func:`exo_vision.blot.gel.find_gel_layout`): how deep a well reads depends on stain and exposure.
    well_tilt_reach_fraction : float
        A column counts for a row when one of its well pixels lies within this fraction of the gel's
        height above or below it (a comb tilted across the gel) ...
    well_min_column_fraction : float
        ... and a row is a well row when this fraction of the gel's columns is in wells there (a comb
        has a well in every lane; bands are bright and never count).
    well_max_height_fraction : float
        A well row is at most this fraction of the gel's height tall (a short slot, not a dark region).
    min_wells_per_row : int
        A well row holds at least this many separate wells (dark column runs at least
        ``min_lane_width_px`` wide); a dark region across the gel is not a comb.
    well_margin_fraction : float
        Rows dropped below a well row (its bright rims, material stuck in the well), as a fraction of the
        gel's height ...
    well_margin_above_fraction : float
        ... and above it (its upper rim only: the previous tier's fastest bands run up to the next comb).
    well_min_width_fraction : float
        A well is at least this fraction of the row's median well width (narrower: a scratch, an edge).
    well_split_gap_fraction : float
        Dark runs of a well row split by a light gap narrower than this fraction of the row's height (a
        speck or a crease in the slot) are one well; the teeth between wells are wider.
    well_regular_width_fraction : float
        A dark run of a well row at least this fraction of the comb's typical well width is a well; a
        narrower one is a piece of a well (see :func:`exo_vision.blot.gel.regular_wells`).
    gel_band_lane_wide_fraction : float
        A band detected on a gel keeps at least this fraction of its volume under a grey opening along its
        rows half its width wide: it runs across its lane (loaded from a whole well); a speck does not.
    well_dark_row_fraction : float
        A column of a well row is in a well when more than this fraction of the row's rows are dark there
        (a slot's inner edge may shine across part of it).
    well_min_periodicity : float
        A run of dark rows is a comb when its depth profile across the gel repeats at one pitch at least
        this strongly (autocorrelation peak over the trough before it; a square wave scores 2, a dark
        stripe without pitch near 0; see :func:`exo_vision.blot.gel.comb_periodicity`). On a gel with such a
        comb, a row that repeats at its pitch needs this divided by ``well_depth_search_step``, its
        profile capped at the sure comb's deepest column (:func:`exo_vision.blot.gel.combs_on_one_pitch`).
    well_even_min_count : int
        A run of dark rows that repeats at ``well_min_periodicity / well_depth_search_step`` (the weaker
        strength) is also a comb when at least this many of its dark column runs (wells as read, before
        gaps are filled) are of one width and lie at one pitch, each within ``well_even_tolerance``
        (:func:`exo_vision.blot.gel.evenly_cut`): a comb of wide wells and thin teeth, two of them run
        together, repeats weakly but reads as plainly even slots.
    well_even_tolerance : float
        Largest departure, as a fraction of the median, of a well's width from the median width and of a
        spacing (per pitch it spans) from the pitch.
    gel_band_min_steepness_fraction : float
        A band detected on a gel rises at least this fraction as steeply (rise over its lowest row per row
        of half-height width) as the steepest band of its strip: a band of DNA is sharp, the glow of a
        smear or of unbound stain is not.
    min_tier_height_fraction : float
        A tier (the rows below one comb's wells, down to the next comb or the gel's bottom) shorter than
        this fraction of the gel's height is dropped (the sliver above the first comb).
    profile_noise_difference_order : {1, 2}
        The noise SD of a lane profile (the unit of ``band_peak_noise_sds``) is read from its differences
        of this order (robust SD): 1, neighbour differences; 2, second differences, which the flanks of
        densely packed bands (a ladder, where most rows lie on a flank) do not inflate.
    gel_profile_noise_difference_order : {1, 2}
        ``profile_noise_difference_order`` used by :func:`exo_vision.blot.gel.quantify_gel`: a gel's ladder
        lanes are mostly band flanks.
    """

    background: str = "profile"
    rolling_ball_radius_px: float = 50.0
    central_fraction: float = 0.65
    measure_band_extent: bool = True
    gel_measure_band_extent: bool = False
    border_px: int = 3
    lod_factor: float = 3.3
    remove_dust_specks: bool = True
    remove_writing: bool = True
    dust_max_size_px: int = 7
    dust_noise_sds: float = 8.0
    undo_staircase: bool = True
    min_strip_height_px: int = 16
    min_lane_width_px: float = 6.0
    max_lane_tilt_deg: float = 3.0
    lane_peak_noise_sds: float = 8.0
    faint_lane_peak_noise_sds: float = 6.0
    lane_sizeable_peak_fraction: float = 0.02
    strong_lane_prominence_fraction: float = 0.1
    lane_window_band_heights: float = 5.0
    end_lane_tolerance_pitches: float = 0.3
    band_peak_noise_sds: float = 6.0
    merge_valley_fraction: float = 0.7
    smear_merge_valley_fraction: float = 0.15
    smear_markers: tuple[str, ...] = ("cd63",)
    min_relative_prominence: float = 0.04
    subtract_sides: bool = True
    side_window_lane_widths: float = 1.0
    side_window_min_px: int = 15
    background_window_lane_widths: float = 3.0
    background_window_band_heights: float = 6.0
    max_band_fraction: float = 0.95
    max_height_band_heights: float = 3.0
    tall_keep_prominence: float = 0.5
    drop_tall_bands: bool = True
    gel_drop_tall_bands: bool = False
    merge_clipped_runs: bool = True
    gel_merge_clipped_runs: bool = False
    split_clear_dips: bool = False
    gel_split_clear_dips: bool = True
    trim_saturated_glow: bool = True
    gel_trim_saturated_glow: bool = False
    gel_remove_writing: bool = False
    band_scale_min_side_fill: float = 0.25
    max_side_share: float = 0.75
    gel_max_side_share: float = 0.0
    band_lane_wide_fraction: float = 0.25
    report_undetected: bool = False
    gel_smoothing_px: float = 5.0
    gel_dark_fraction: float = 0.4
    gel_bright_fraction: float = 0.9
    gel_edge_margin_fraction: float = 0.03
    gel_gap_off_fraction: float = 0.8
    well_window_fraction: float = 0.06
    well_min_depth_fraction: float = 0.1
    well_depth_search_step: float = math.sqrt(2.0)
    well_tilt_reach_fraction: float = 0.003
    well_min_column_fraction: float = 0.35
    well_max_height_fraction: float = 0.06
    well_margin_fraction: float = 0.025
    well_margin_above_fraction: float = 0.008
    well_min_width_fraction: float = 0.5
    well_split_gap_fraction: float = 0.5
    well_regular_width_fraction: float = 0.7
    well_dark_row_fraction: float = 0.3
    well_min_periodicity: float = 0.6
    well_even_min_count: int = 6
    well_even_tolerance: float = 0.15
    gel_band_lane_wide_fraction: float = 0.25
    gel_band_min_steepness_fraction: float = 0.05
    min_wells_per_row: int = 3
    min_tier_height_fraction: float = 0.2
    profile_noise_difference_order: int = 1
    gel_profile_noise_difference_order: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "smear_markers", tuple(str(m).strip().lower() for m in self.smear_markers))
        if self.background not in BACKGROUND_METHODS:
            raise ValueError(
                f"unknown background method {self.background!r}; choose one of {', '.join(BACKGROUND_METHODS)}"
            )
        for name in FRACTIONS:
            _check_number(name, getattr(self, name), fraction=True)
        for name in POSITIVE:
            _check_number(name, getattr(self, name), fraction=False)
        whole = ("border_px", "dust_max_size_px", "min_strip_height_px", "side_window_min_px")
        for name in (*whole, "min_wells_per_row", "well_even_min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                what = "a whole number of pixels" if name.endswith("_px") else "a whole number"
                raise ValueError(f"{name} must be {what} >= 1, got {value!r}")
        for name in ("profile_noise_difference_order", "gel_profile_noise_difference_order"):
            if getattr(self, name) not in NOISE_DIFFERENCE_ORDERS or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be 1 or 2, got {getattr(self, name)!r}")
        if self.well_depth_search_step < 1:
            raise ValueError(f"well_depth_search_step must be >= 1, got {self.well_depth_search_step!r}")
        if isinstance(self.band_lane_wide_fraction, bool) or not 0 <= self.band_lane_wide_fraction <= 1:
            raise ValueError(
                "band_lane_wide_fraction must be a fraction in [0, 1] (0 turns the rule off), "
                f"got {self.band_lane_wide_fraction!r}"
            )
        for name in ("max_side_share", "gel_max_side_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0 (0 turns the rule off), got {value!r}")
        if not 0 <= self.max_lane_tilt_deg < 45:
            raise ValueError(f"max_lane_tilt_deg must be in [0, 45) degrees, got {self.max_lane_tilt_deg!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), for ``run.json`` or TOML."""
        out = asdict(self)
        out["smear_markers"] = list(self.smear_markers)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BlotParameters:
        """Build from a mapping (e.g. a TOML table or a recorded ``to_dict()``); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown blot parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        kw = dict(values)
        if "smear_markers" in kw:
            kw["smear_markers"] = tuple(kw["smear_markers"])
        return cls(**kw)


def _check_number(name: str, value: float, *, fraction: bool) -> None:
    """Raise ValueError unless ``value`` is a finite number > 0 (and <= 1 for a fraction)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if fraction and not (ok and value <= 1):
        raise ValueError(f"{name} must be a fraction in (0, 1], got {value!r}")
    if not ok:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


#: Default blot parameters.
DEFAULT_BLOT_PARAMETERS = BlotParameters()

#: Largest accepted rolling-ball radius in pixels.
MAX_ROLLING_BALL_RADIUS_PX = 10_000.0
#: ``band_lane_wide_fraction`` that reports every peak clearing its LoD as a band (``--keep-spots``, the
#: dock's "keep spots"): no least width.
KEEP_SPOTS = 0.0
