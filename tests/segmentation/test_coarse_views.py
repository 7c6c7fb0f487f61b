"""Averaging the coarse pass over turns and reflections of its input (``thresholds.coarse_views``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from exo_vision.segmentation.learned.method import segment_unet, view_averaged_maps
from exo_vision.segmentation.learned.network_input import normalise_for_network
from exo_vision.segmentation.learned.runtime import session_for
from exo_vision.segmentation.learned.variants import write_model_variant
from exo_vision.segmentation.learned.weights import load_card
from exo_vision.synthetic.tem import make_synthetic_tem
from exo_vision.synthetic.tem_random import make_random_tem

#: The eight turns and reflections of a square image.
DIHEDRAL = {
    "as read": lambda a: a,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "fliplr": np.fliplr,
    "flipud": np.flipud,
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


def test_eight_views_make_the_coarse_maps_follow_a_transpose():
    """Averaged over all eight views, the maps of a transposed input are the transposed maps (one tile, a side
    that is a multiple of the network's period, so nothing else differs); one view is not."""
    card = load_card(None)
    image, _ = make_synthetic_tem((192, 192), pixel_size_nm=6.0, difficulty="medium", scale_bar=False, rng=3102)
    x = normalise_for_network(image.astype(np.float32))
    session = session_for(card)

    def change(views: int) -> float:
        maps = view_averaged_maps(session, x, multiple_of=card.multiple_of, views=views)
        seen = view_averaged_maps(session, np.ascontiguousarray(x.T), multiple_of=card.multiple_of, views=views)
        return float(np.abs(np.swapaxes(seen, 1, 2) - maps).max())

    assert change(8) < 1e-4
    assert change(1) > 0.05
    with pytest.raises(ValueError, match="coarse_views"):
        view_averaged_maps(session, x, multiple_of=card.multiple_of, views=3)


def _best_iou(truth: np.ndarray, labels: np.ndarray) -> float:
    ids, overlap = np.unique(labels[truth], return_counts=True)
    return max(
        (o / (truth.sum() + np.count_nonzero(labels == j) - o) for j, o in zip(ids, overlap, strict=True) if j),
        default=0.0,
    )


def test_a_generated_large_vesicle_is_found_whole_in_every_orientation():
    """A 245 nm vesicle of a crowded generated micrograph (random-1 seed 954008, 5 nm/px) is found whole (IoU >=
    0.8) in all eight orientations with the coarse pass averaged over eight views; with one coarse view it is
    lost when the micrograph is turned by 90 or 270 degrees, flipped or antitransposed."""
    generated = make_random_tem((512, 512), pixel_size_nm=5.0, rng=954008)
    card = load_card(None)
    card = replace(card, thresholds=replace(card.thresholds, coarse_views=8))
    vesicle = generated.labels == 11
    assert 2 * np.sqrt(vesicle.sum() / np.pi) * 5.0 == pytest.approx(245, abs=2)
    for name, view in DIHEDRAL.items():
        image = np.ascontiguousarray(view(generated.image))
        labels, *_ = segment_unet(
            image, pixel_size_nm=5.0, exclude=np.zeros(image.shape, bool), model=card, polarity="bright"
        )
        assert _best_iou(np.ascontiguousarray(view(vesicle)), labels) >= 0.8, name


def test_a_variant_with_coarse_views_is_recorded_and_checked(tmp_path):
    """``write_model_variant(coarse_views=8)`` writes a card the segmenter obeys and records; other counts are
    refused."""
    from exo_vision.segmentation import api

    model = write_model_variant(tmp_path / "views.onnx", coarse_views=8)
    image, _ = make_synthetic_tem((256, 256), pixel_size_nm=3.0, difficulty="easy", scale_bar=False, rng=12)
    result = api.segment_vesicles(image, pixel_size_nm=3.0, method="unet", model=str(model))
    assert result.parameters["thresholds"]["coarse_views"] == 8
    with pytest.raises(ValueError, match="coarse_views"):
        write_model_variant(tmp_path / "bad.onnx", coarse_views=3)
