"""Every tuned number of the classical segmenter, as data.

:class:`ClassicalParameters` is frozen: one instance describes one way of
running the method, it can be written to ``run.json`` (:meth:`to_dict`) and
read back (:meth:`from_dict`). :data:`DEFAULT_PARAMETERS` holds the values the
method was tuned with; the stage functions take a ``params`` argument and read
their thresholds from it, so no threshold is written as a literal in code.

Units are in the field names: ``_nm`` lengths in nanometres, ``_px`` pixels
of the working grid, ``_fraction`` and ``_ratio`` dimensionless, ``_z``
contrast in units of the local noise (the scale of the ``z`` image).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ClassicalParameters:
    """Thresholds of the classical (filter-and-rules) vesicle segmenter.

    Grouped by stage; see :mod:`exo_vision.segmentation.classical` for what
    each stage does.
    """

    # --- working scale, background and contrast (preprocess) ---
    #: Pixel edge of the grid detection runs on.
    working_scale_nm: float = 2.0
    #: Gaussian sigma of the first, rough stain level.
    background_sigma_nm: float = 120.0
    #: Gaussian sigma of the background that ignores the objects found so far.
    masked_background_sigma_nm: float = 80.0
    #: Pixel edge of the coarse grid the background and noise filters run on.
    background_grid_nm: float = 8.0
    #: Local share of free (non-object) pixels above which the masked background is fully trusted.
    masked_background_trust_weight: float = 0.3
    #: Local share of free pixels below which the masked background falls back to the rough one.
    masked_background_min_weight: float = 1e-3
    #: Gaussian sigma of the denoising before contrast is measured.
    smooth_sigma_nm: float = 3.0
    #: Smoothing skipped when its sigma is below this many working pixels.
    smallest_blur_px: float = 0.3
    #: Window over which the local noise is averaged.
    noise_window_nm: float = 300.0
    #: Lag of the noise differences, in smoothing widths (beyond the noise's correlation length).
    noise_lag_smoothing_widths: float = 3.0
    #: Noise differences are clipped at this many standard deviations (edges are not noise).
    noise_clip_std: float = 3.0
    #: The local noise never falls below this fraction of the global noise.
    noise_floor_fraction: float = 0.25
    #: Smallest noise level (image units), so that a flat image does not divide by zero.
    smallest_noise: float = 1e-9
    #: Annotations are painted with the stain median of every n-th row and column.
    annotation_fill_sample_step_px: int = 3
    #: The excluded area grows by this many working pixels before it is blanked.
    annotation_grow_px: int = 1
    #: Polarity and the background's object masks use every n-th working pixel ...
    coarse_step_px: int = 2
    #: ... when those pixels are at most this far apart ...
    coarse_max_spacing_nm: float = 4.5
    #: ... and the image keeps at least this many of them per coarse step on its shorter side.
    coarse_min_side_px: int = 32

    # --- detection thresholds (noise units) ---
    #: High hysteresis threshold at sensitivity 0 ...
    threshold_high_at_zero_sensitivity_z: float = 8.0
    #: ... falling by this much per unit of sensitivity (0.5 -> 5.0).
    threshold_high_drop_per_sensitivity_z: float = 6.0
    #: Low hysteresis threshold as a fraction of the high one.
    threshold_low_fraction: float = 0.5

    # --- candidates ---
    #: Closing radius that seals gaps in dark membranes before enclosed regions are found.
    dark_closing_radius_nm: float = 2.0
    #: Opening radius that removes slivers from dark-enclosed regions.
    enclosed_opening_radius_nm: float = 3.0
    #: Closing radius of the candidate mask.
    candidate_closing_radius_nm: float = 3.0
    #: Opening radius of the candidate mask.
    candidate_opening_radius_nm: float = 2.5
    #: Largest gap between the arcs of a broken cup rim that is bridged.
    rim_gap_nm: float = 12.0
    #: Pieces smaller than a square of this side are not weighed when grouping arcs ...
    rim_piece_min_side_nm: float = 4.0
    #: ... nor pieces under this many pixels.
    rim_piece_min_px: int = 4
    #: A group of pieces that grew by more than this ratio when closed is a broken ring.
    rim_group_growth_ratio: float = 1.05
    #: A piece less solid than this is an arc of a rim.
    arc_max_solidity: float = 0.8

    # --- the round-body rule (a vesicle body is round and solid) ---
    #: Smallest solidity of a round vesicle body.
    round_body_min_solidity: float = 0.85
    #: Largest ratio of principal axes of a round vesicle body.
    round_body_max_elongation: float = 1.6

    # --- closing a broken ring (a cup rim seen as a "C") ---
    #: Fraction of directions in which the candidate must reach the outer half of its hull.
    ring_min_coverage: float = 0.65
    #: Directions sampled around the hull centre.
    ring_directions: int = 36
    #: Smallest hull radius (pixels) that can be a ring.
    ring_min_radius_px: float = 3.0
    #: Smallest share of the hull the candidate must cover (a scatter of specks is no rim).
    ring_min_fill_fraction: float = 0.2
    #: Largest half-width of the rim as a fraction of the hull radius (thicker: a cluster of bodies).
    ring_max_half_width_fraction: float = 0.4
    #: Radius of the centre that must stay empty, as a fraction of the hull radius ...
    ring_centre_radius_fraction: float = 0.3
    #: ... and the share of that centre's area the candidate may cover.
    ring_max_centre_fill_fraction: float = 0.3
    #: Pixels beyond this fraction of the hull radius count as the outer half.
    ring_outer_fraction: float = 0.5

    # --- rim depth around a candidate ---
    #: The ring around a candidate starts this many pixels outside its edge ...
    rim_ring_inner_px: float = 0.5
    #: ... and reaches this far outside it (plus one pixel).
    rim_ring_outer_nm: float = 8.0

    # --- cups found from their dark centre ---
    #: Blur of the contrast image the rays sample.
    cup_ray_smooth_nm: float = 3.0
    #: Blur of the contrast image whose minima are the candidate centres.
    cup_centre_smooth_nm: float = 8.0
    #: Smallest blur sigma in pixels.
    cup_min_blur_px: float = 0.5
    #: Cups under this diameter do not collapse visibly.
    cup_min_diameter_nm: float = 40.0
    #: Smallest rim radius searched, as a fraction of the smallest cup radius ...
    cup_min_radius_fraction: float = 0.6
    #: ... and never under this many pixels.
    cup_min_radius_px: float = 3.0
    #: Largest cup diameter searched.
    cup_max_diameter_nm: float = 300.0
    #: How far beyond the rim the stain level is read ...
    cup_beyond_nm: float = 16.0
    #: ... and at least this many pixels.
    cup_beyond_min_px: float = 3.0
    #: Rays run to this multiple of the largest rim radius (plus the reach beyond it).
    cup_ray_length_ratio: float = 1.5
    #: The centre level is the mean within this radius of the minimum ...
    cup_centre_radius_nm: float = 8.0
    #: ... and at least this many pixels.
    cup_centre_min_radius_px: float = 1.0
    #: Rays of this many directions.
    cup_directions: int = 36
    #: How much lighter the rim must be than the centre and the stain beyond (noise units).
    cup_rim_contrast_z: float = 2.0
    #: Fraction of directions in which a consistent rim must be seen.
    cup_min_coverage: float = 0.75
    #: The centre must be darker than the stain by this fraction of the rim contrast.
    cup_centre_depth_fraction: float = 0.5
    #: The second search looks between these fractions of the first search's median rim radius.
    cup_rim_search_low_fraction: float = 0.6
    cup_rim_search_high_fraction: float = 1.5
    #: The first, vectorised screen of all minima asks for this fraction of ``cup_min_coverage``.
    cup_screen_coverage_fraction: float = 0.5
    #: The reach beyond the rim grows to this fraction of the rim radius for large cups.
    cup_reach_radius_fraction: float = 0.5
    #: A rim radius within this fraction of the median is consistent.
    cup_radius_tolerance_fraction: float = 0.3
    #: Re-centring passes on the rim seen.
    cup_recentre_passes: int = 3
    #: Fewest directions in which a rim must be seen to re-centre or accept.
    cup_min_rim_directions: int = 3
    #: Directions of the running median that smooths the outline.
    cup_outline_median_directions: int = 5
    #: The outline radius is clipped to this band around its median.
    cup_outline_low_fraction: float = 0.8
    cup_outline_high_fraction: float = 1.2
    #: Minima tested together in one vectorised batch (memory bound, not a threshold).
    cup_batch_size: int = 256
    #: A found cup is already one object when one candidate covers this share of it.
    cup_one_object_fraction: float = 0.6
    #: A piece counts as part of the cup when this share of it lies inside the outline ...
    cup_piece_inside_fraction: float = 0.5
    #: ... and it covers at least this share of the cup.
    cup_piece_min_fraction: float = 0.05
    #: A cup's rim breaks into at most this many pieces.
    cup_max_pieces: int = 4
    #: The detector must already have seen this share of the rim.
    cup_min_rim_seen_fraction: float = 0.15
    #: Thin slivers of rim are stripped from a neighbour by an opening of this radius.
    cup_neighbour_strip_radius_nm: float = 6.0
    #: A part smaller than this fraction of the smallest vesicle's area is dropped.
    min_part_area_fraction: float = 0.5

    # --- faint vesicles between brighter neighbours ---
    #: Neighbours' light bodies grow by one membrane thickness to close the ring.
    between_body_growth_nm: float = 4.0
    #: The smallest such vesicle is twice ``min_diameter_nm`` less this (its membrane).
    between_membrane_allowance_nm: float = 8.0

    # --- splitting touching vesicles ---
    #: A component at least this solid is one convex body and is never split.
    split_min_solidity: float = 0.95
    #: Smallest half-diameter of a part, in working pixels.
    split_min_radius_px: float = 2.0
    #: Components smaller than this many squared smallest radii are not considered.
    split_min_area_radii2: float = 4.0
    #: Distance-transform peaks are this fraction of the smallest radius apart ...
    split_peak_distance_fraction: float = 0.6
    #: ... and at least this many pixels.
    split_peak_min_distance_px: int = 2
    #: Peaks of a split part must be this fraction of the smallest radius high.
    split_peak_height_fraction: float = 0.6
    #: Two parts are one body when their neck is wider than this fraction of the thinner one.
    split_neck_fraction: float = 0.7
    #: A part longer than this ratio of principal axes is an arc (a folded rim).
    arc_min_elongation: float = 3.0
    #: A rim arc is thinner than this fraction of its body ...
    arc_max_width_fraction: float = 0.6
    #: ... and smaller than this fraction of it.
    arc_max_size_fraction: float = 0.5
    #: A hugging arc lies within this fraction of the body's radius from it ...
    hug_max_gap_fraction: float = 0.5
    #: ... at this band of the joint hull's radius from its centre ...
    hug_min_radius_fraction: float = 0.7
    hug_max_radius_fraction: float = 1.1
    #: ... with a spread under this fraction of that radius.
    hug_max_spread_fraction: float = 0.15

    # --- per-candidate checks ---
    #: Candidates under this fraction of the smallest vesicle diameter are specks: not even reported.
    speck_diameter_fraction: float = 0.5
    #: A candidate covering this share of the working image is uneven stain.
    max_image_fraction: float = 0.2
    #: A candidate with this share on the excluded area is rejected.
    max_excluded_fraction: float = 0.2
    #: The coarse interior plus two membranes plus this may fall short of the minimum diameter.
    coarse_size_allowance_nm: float = 4.0
    #: Shape checks need at least this many working pixels.
    shape_min_area_px: int = 12
    #: A candidate more elongated than this is a rod, or a vesicle with a rod across it.
    max_elongation: float = 3.0
    #: Rods are stripped off a vesicle by an opening of this radius.
    rod_strip_radius_nm: float = 7.0
    #: The body left after stripping is at least this fraction of the smallest vesicle's area ...
    rod_min_body_fraction: float = 0.5
    #: ... and less elongated than this.
    rod_max_body_elongation: float = 2.0
    #: A candidate less solid than this is an aggregate, unless it closes to a ring.
    min_solidity: float = 0.7
    #: The interior's percentile that must be lighter than the stain (a cup's dark centre pulls lower ones down).
    interior_percentile: float = 75.0
    #: The rim must be darker than the stain by this fraction of the interior's mean ...
    min_rim_darkness_fraction: float = 0.1
    #: ... and the interior lighter than the rim by this much (noise units).
    min_rim_step_z: float = 2.0
    #: Below this many times ``min_diameter_nm`` (membrane included) a particle may be a lipoprotein or a
    #: protein grain: it must show a membrane, and it is not accepted by its outline alone ...
    small_particle_diameter_ratio: float = 2.0
    #: ... but never above this diameter (nm; twice the default minimum), so that raising the minimum only
    #: removes smaller vesicles: uncapped, ``--min-diameter-nm 50`` also removed halo-less 63-85 nm vesicles.
    max_small_particle_diameter_nm: float = 40.0
    #: A small candidate's rim must be at least this fraction as deep as its interior is light ...
    min_rim_depth_fraction: float = 0.2
    #: ... measured at this percentile of the interior.
    rim_depth_interior_percentile: float = 90.0

    # --- outline refinement at full resolution ---
    #: How far around a candidate its outline may be refined (its territory).
    territory_nm: float = 14.0
    #: The territory reaches at least this many working pixels.
    territory_min_px: float = 2.0
    #: Gaussian sigma of the full-resolution crops whose edge profile places the outline.
    refine_smooth_nm: float = 0.8
    #: Crops are blurred only when that sigma exceeds this many pixels.
    refine_min_blur_px: float = 0.4
    #: Crops reach this many blur sigmas past the territory.
    refine_blur_reach_sigmas: float = 4.0
    #: Crops get this many extra working pixels of margin.
    refine_margin_px: int = 2
    #: The pixel noise is estimated on about this many rows of the image.
    noise_sample_rows: int = 512
    #: Apparent thickness of the dark membrane line (the outline sits one thickness outside its inner face).
    membrane_thickness_nm: float = 4.0
    #: The edge profile spans this distance either side of the coarse outline.
    profile_half_width_nm: float = 15.0
    #: Profile bins are this wide (at least half a pixel).
    profile_bin_nm: float = 0.5
    #: The profile is smoothed over about this length.
    profile_smooth_nm: float = 1.0
    #: Fewest filled profile bins for a usable profile.
    profile_min_bins: int = 5
    #: The profile's noise is this many standard errors of a bin mean.
    profile_noise_sigmas: float = 3.0
    #: The interior level is read from this deep inside the outline ...
    profile_interior_deep_nm: float = 10.0
    #: ... (at most this fraction of the radius) ...
    profile_interior_deep_fraction: float = 0.8
    #: ... to this shallow ...
    profile_interior_shallow_nm: float = 3.0
    #: ... (at most this fraction of the radius).
    profile_interior_shallow_fraction: float = 0.3
    #: The membrane's dark valley is searched from this far inside ...
    profile_valley_inner_nm: float = 2.0
    #: ... to this far outside the coarse outline.
    profile_valley_outer_nm: float = 12.0
    #: Fewest interior samples and valley samples for a usable profile.
    profile_min_interior_bins: int = 2
    profile_min_valley_bins: int = 3
    #: The interior must be lighter than the valley by this many profile noises.
    profile_min_step_noises: float = 2.0

    # --- stain precipitate ---
    #: Dark blobs are this many high thresholds below the stain ...
    precipitate_depth_thresholds: float = 2.0
    #: ... on average at least this many.
    precipitate_mean_depth_thresholds: float = 3.0
    #: Dark pixels this close to an accepted vesicle are its halo ...
    precipitate_vesicle_clearance_nm: float = 30.0
    #: ... and this close to any light candidate its outline.
    precipitate_light_clearance_nm: float = 10.0
    #: Precipitate blobs have equivalent diameters in this range.
    precipitate_min_diameter_nm: float = 8.0
    precipitate_max_diameter_nm: float = 400.0

    # --- objects left out of the background ---
    #: Objects are masked with this margin, for their halos.
    object_margin_nm: float = 30.0
    #: The broad pass smooths the contrast with this sigma ...
    broad_smooth_nm: float = 4.0
    #: ... and keeps what lies above this fraction of the low threshold ...
    broad_threshold_fraction: float = 0.6
    #: ... after an opening of this radius.
    broad_opening_radius_nm: float = 6.0
    #: An object's edge ring reaches this far outside it.
    object_ring_nm: float = 8.0
    #: An object is edged when this share of its ring is dark ...
    object_min_dark_ring_fraction: float = 0.4
    #: ... or strong when it rises above this many high thresholds.
    object_strong_thresholds: float = 2.0
    #: Objects above this diameter are stain, not vesicles, for the background ...
    object_max_diameter_nm: float = 300.0
    #: ... with this slack on the area.
    object_max_area_ratio: float = 1.5
    #: Enclosed regions at least this solid are kept as objects.
    object_min_enclosed_solidity: float = 0.6

    # --- polarity ---
    #: Objects under this fraction of the smallest vesicle's area are not weighed ...
    polarity_min_area_fraction: float = 0.25
    #: ... nor those above this multiple of the largest's.
    polarity_max_area_ratio: float = 1.5
    #: Crops reach this far around each object.
    polarity_margin_nm: float = 26.0
    #: Interior minus rim must exceed this (noise units).
    polarity_min_step_z: float = 2.0
    #: The far surround is read from this far ...
    polarity_far_inner_nm: float = 10.0
    #: ... to this far outside the object ...
    polarity_far_outer_nm: float = 25.0
    #: ... and may not be lighter than the stain by more than this (noise units).
    polarity_max_far_z: float = 1.0

    # --- numerical guards ---
    #: Smallest eigenvalue ratio used when computing elongation.
    elongation_eigen_floor: float = 1e-6
    #: Smallest eigenvalue used when computing elongation.
    elongation_eigen_epsilon: float = 1e-12
    #: Elongation of regions with fewer pixels than this is 1.
    elongation_min_area_px: float = 3.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"ClassicalParameters.{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"ClassicalParameters.{f.name} must not be negative, got {value!r}")
        if self.working_scale_nm <= 0:
            raise ValueError(f"working_scale_nm must be positive, got {self.working_scale_nm!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (JSON/TOML-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassicalParameters:
        """Parameters from :meth:`to_dict` output; unknown names are refused, missing ones take defaults.

        Raises
        ------
        ValueError
            Naming the unknown fields.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown classical parameter(s) {unknown}; known names are the fields of ClassicalParameters"
            )
        return cls(**values)

    def thresholds(self, sensitivity: float) -> tuple[float, float]:
        """Hysteresis thresholds ``(low, high)`` in noise units for a sensitivity in [0, 1]."""
        if not 0.0 <= sensitivity <= 1.0:
            raise ValueError(f"`sensitivity` must be between 0 and 1, got {sensitivity!r}")
        high = self.threshold_high_at_zero_sensitivity_z - self.threshold_high_drop_per_sensitivity_z * sensitivity
        low = self.threshold_low_fraction * high
        return low, high

    def small_particle_diameter_nm(self, min_diameter_nm: float) -> float:
        """Diameter (nm, membrane included) below which a particle must show a membrane to be a vesicle."""
        return min(self.small_particle_diameter_ratio * min_diameter_nm, self.max_small_particle_diameter_nm)


#: The values the classical method was tuned with.
DEFAULT_PARAMETERS = ClassicalParameters()
