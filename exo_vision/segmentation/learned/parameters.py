"""The parameter model of the learned method's post-processing: the thresholds a model card stores.

:class:`InstanceThresholds` holds every tuning number of
:func:`exo_vision.segmentation.learned.postprocess.maps_to_instances`; a model
card carries its own values (``"thresholds"``) and the defaults here are the ones
a freshly exported card is written with.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Test-time augmentation counts a card's ``flips`` may hold (none; and left-right; and up-down and both).
FLIP_COUNTS: tuple[int, ...] = (1, 2, 4)
#: Input offsets a card's ``grid_shifts`` may hold (none; and half the pooling period down and right; and the two
#: half-period offsets along one axis).
GRID_SHIFT_COUNTS: tuple[int, ...] = (1, 2, 4)


@dataclass(frozen=True)
class InstanceThresholds:
    """Thresholds of :func:`~exo_vision.segmentation.learned.postprocess.maps_to_instances` (stored in the model card).

    Attributes
    ----------
    foreground : float
        Foreground probability above which a pixel belongs to a vesicle.
    seed : float
        Normalised distance (times one minus the boundary probability) above
        which a pixel belongs to a vesicle's seed; touching vesicles have
        separate seeds.
    min_seed_fraction : float
        Seeds smaller than this fraction of the smallest vesicle's area are ignored.
    merge_boundary : float
        Two neighbouring watershed regions whose shared border has a mean
        boundary probability under this are one vesicle (the network saw no
        contact between them: a cup's fold or a textured body, not two
        vesicles touching); 0 keeps every region.
    coarse_factor : float
        The second, coarse pass sees the micrograph at this many times the
        working scale (nm/px), so large vesicles fall within the sizes the
        network outlines whole; 0 disables the coarse pass.
    coarse_min_diameter_nm : float
        Coarse-pass instances at least this large (equivalent diameter, nm)
        replace the fine-pass instances they cover; smaller vesicles come from
        the fine pass, which resolves them better.
    coarse_min_solidity : float
        ... and only when they are convex (area over convex-hull area at least
        this): one vesicle is convex, two touching vesicles have a waist
        (two equal touching disks: 0.88).
    flips : int
        Test-time augmentation: the network's maps are averaged over this many
        flips of its input (1: none; 2: and left-right; 4: and up-down, and
        both), each flipped back; costs one network pass per flip.
    join_rounder : bool
        After the watershed, join touching instances whose union is rounder
        than each of them and convex (solidity at least ``coarse_min_solidity``):
        a cup cut along its fold is one vesicle
        (:func:`~exo_vision.segmentation.learned.postprocess.join_rounder_unions`).
    normalise_window_px : int
        Grey-level normalisation window in network pixels: 0 maps the whole
        image by one pair of percentiles; a positive value (the training patch
        size) reads them in windows of that size, so that each part of a large
        micrograph is mapped as a training patch was
        (:func:`~exo_vision.segmentation.learned.network_input.normalise_for_network`).
    subpixel_membrane : bool
        How the outer half membrane is added where a full-resolution pixel is
        wider than half a membrane (micrographs coarser than
        :func:`~exo_vision.segmentation.learned.coarse_outlines.half_membrane_limit_nm`, 2.31 nm/px): false
        dilates each outline by a disk, which there is a single pixel and adds
        nothing; true moves the foreground map's contour outwards by half a
        membrane on the working grid, a fraction of a pixel
        (:func:`~exo_vision.segmentation.learned.method.membrane_offset_map`).
        Finer micrographs are outlined the same either way.
    invert_dark : bool
        Segment a micrograph whose vesicles are darker than the stain (polarity
        "dark", given or read from a first pass) with its grey levels reversed:
        the network learnt lighter vesicles about twice as often as darker
        ones. Costs a second pass on such micrographs when the polarity is "auto".
    second_scale_factor : float
        0: one fine pass at the working scale. A positive value runs a second
        fine pass at this many times the working scale (0.8: 2.4 nm/px for a
        3 nm/px model) and averages its three maps, resampled linearly to the
        fine grid, with the first pass's before the watershed; costs that pass.
    grid_shifts : int
        The network's fine-pass maps are averaged over this many offsets of its
        input on the working grid, each moved back (1: none; 2: and half the
        network's pooling period, ``multiple_of / 2`` px, down and right; 4: and
        that offset down only and right only). A U-Net that pools is not
        translation-equivariant: its maps change with the input's offset modulo
        the pooling period, so a crop of a pixel changes the outlines; averaging
        over offsets makes the maps depend less on it. Costs one fine network
        pass per offset.
    """

    foreground: float = 0.5
    seed: float = 0.5
    min_seed_fraction: float = 0.1
    merge_boundary: float = 0.3
    coarse_factor: float = 2.0
    coarse_min_diameter_nm: float = 150.0
    coarse_min_solidity: float = 0.9
    flips: int = 1
    join_rounder: bool = False
    normalise_window_px: int = 0
    subpixel_membrane: bool = False
    invert_dark: bool = False
    second_scale_factor: float = 0.0
    grid_shifts: int = 1


#: The thresholds a new card is written with (and ``maps_to_instances`` uses when given none).
DEFAULT_INSTANCE_THRESHOLDS = InstanceThresholds()
