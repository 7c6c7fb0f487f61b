"""Averaging the network over offsets of its input on the working grid (``thresholds.grid_shifts``)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.evaluation import score_detection
from exo_vision.segmentation.learned.method import flip_averaged_maps
from exo_vision.segmentation.learned.network_input import normalise_for_network
from exo_vision.segmentation.learned.runtime import session_for
from exo_vision.segmentation.learned.variants import write_model_variant
from exo_vision.segmentation.learned.weights import load_card
from exo_vision.synthetic.tem import make_synthetic_tem

#: Working-scale pixels kept away from the image edges when two crops' maps are compared (the network sees the
#: crops' edges differently there).
MARGIN_PX = 48


@pytest.fixture(scope="module")
def generated_input():
    """A generated micrograph drawn at the working scale (3 nm/px), normalised as the network sees it."""
    image, _ = make_synthetic_tem((384, 384), pixel_size_nm=3.0, difficulty="medium", scale_bar=False, rng=3101)
    return normalise_for_network(image.astype(np.float32))


def _crop_change(maps_of, net_input: np.ndarray, crop: int) -> float:
    """Largest change of any map, away from the edges, when ``crop`` rows and columns leave the top left."""
    whole = maps_of(net_input)[:, crop:, crop:]
    cropped = maps_of(np.ascontiguousarray(net_input[crop:, crop:]))
    inner = np.s_[:, MARGIN_PX:-MARGIN_PX, MARGIN_PX:-MARGIN_PX]
    return float(np.abs(whole[inner] - cropped[inner]).max())


def test_two_grid_shifts_make_the_maps_follow_a_half_period_crop(generated_input):
    """The shipped network pools by 2 three times (period 8 px): a crop of 4 px at the top left changes its plain
    maps by tenths inside the image; averaged over the offsets 0 and 4 px the two crops see the same two pooling
    phases, so their maps agree inside the image up to the receptive field's reach of the edge."""
    card = load_card(None)
    session = session_for(card)
    half = card.multiple_of // 2

    def plain(x):
        return flip_averaged_maps(session, x, multiple_of=card.multiple_of)

    def shifted(x):
        return flip_averaged_maps(session, x, multiple_of=card.multiple_of, grid_shifts=2)

    assert _crop_change(plain, generated_input, half) > 0.1
    assert _crop_change(shifted, generated_input, half) < 0.02


def test_grid_shifts_move_each_pass_back_and_refuse_other_counts(generated_input):
    """Each offset pass is moved back into place: the averaged maps stay on the input's grid (same shape, the
    foreground where the plain pass has it), and a count other than 1, 2 or 4 is refused."""
    card = load_card(None)
    session = session_for(card)
    plain = flip_averaged_maps(session, generated_input, multiple_of=card.multiple_of)
    calls: list[tuple[int, int]] = []
    four = flip_averaged_maps(
        session,
        generated_input,
        multiple_of=card.multiple_of,
        grid_shifts=4,
        progress=lambda d, n: calls.append((d, n)),
    )
    assert four.shape == plain.shape and four.dtype == np.float32
    assert np.mean((four[0] > 0.5) == (plain[0] > 0.5)) > 0.98
    assert calls[-1][0] == calls[-1][1] == 4
    with pytest.raises(ValueError, match="grid_shifts"):
        flip_averaged_maps(session, generated_input, multiple_of=card.multiple_of, grid_shifts=3)


def test_a_variant_with_grid_shifts_is_recorded_and_finds_the_vesicles(tmp_path):
    """``write_model_variant(grid_shifts=2)`` writes a card the segmenter obeys and records; the generated
    vesicles are still found."""
    from exo_vision.segmentation import api

    model = write_model_variant(tmp_path / "shifts.onnx", grid_shifts=2)
    image, truth = make_synthetic_tem((512, 512), pixel_size_nm=1.0, difficulty="easy", scale_bar=False, rng=11)
    result = api.segment_vesicles(image, pixel_size_nm=1.0, method="unet", model=str(model))
    assert result.parameters["thresholds"]["grid_shifts"] == 2
    assert score_detection(truth.labels, result.labels).recall >= 0.85
    with pytest.raises(ValueError, match="grid_shifts"):
        write_model_variant(tmp_path / "bad.onnx", grid_shifts=3)
