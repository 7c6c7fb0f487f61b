"""The network's grey-level normalisation: whole image, and in windows of the training patch size."""

import numpy as np

from exo_vision.segmentation.learned.network_input import local_percentile_maps, normalise_for_network


def test_whole_image_normalisation_maps_the_1st_and_99th_percentiles_to_0_and_1():
    """Grey levels 0..9999 once each: the percentiles are 99.99 and 9899.01 (numpy's linear rule, by hand)."""
    image = np.arange(10_000, dtype=np.float32).reshape(100, 100)
    out = normalise_for_network(image)
    np.testing.assert_allclose(out.ravel()[[0, -1]], [-99.99 / 9799.02, 9899.01 / 9799.02], rtol=1e-5)
    # a window as large as the image changes nothing
    np.testing.assert_array_equal(normalise_for_network(image, window_px=100), out)


def test_windowed_normalisation_undoes_a_strong_illumination_ramp():
    """Noise on a ramp 20 times its spread: one pair of percentiles squeezes the left part into a sliver,
    windows of 64 px map every 64-px block to about 0..1 as a training patch of that size was."""
    rng = np.random.default_rng(7)
    image = rng.normal(size=(256, 512)).astype(np.float32) + np.linspace(0, 40, 512, dtype=np.float32)[None, :]
    whole = normalise_for_network(image)
    local = normalise_for_network(image, window_px=64)
    assert np.ptp(np.percentile(whole[:, :64], [1, 99])) < 0.2
    for c0 in range(0, 512, 64):
        lo, hi = np.percentile(local[:, c0 : c0 + 64], [1, 99])
        assert -0.25 < lo < 0.25 and 0.75 < hi < 1.25, (c0, lo, hi)


def test_a_window_without_valid_or_varied_pixels_takes_the_whole_images_percentiles():
    """Windows centred at 31.5, 63.5 and 95.5 px: the top-left one is excluded (the scale bar), the
    bottom-right one is flat; the pixels nearest their centres get the whole image's pair exactly."""
    rng = np.random.default_rng(3)
    image = rng.normal(size=(128, 128)).astype(np.float32)
    image[64:, 64:] = 5.0
    valid = np.ones(image.shape, bool)
    valid[:64, :64] = False
    whole = tuple(float(v) for v in np.percentile(image[valid], [1, 99]))
    lo, hi = local_percentile_maps(image, valid=valid, window_px=64, whole=whole)
    assert lo.shape == hi.shape == image.shape
    np.testing.assert_allclose([lo[0, 0], hi[0, 0]], whole, rtol=1e-6)
    np.testing.assert_allclose([lo[-1, -1], hi[-1, -1]], whole, rtol=1e-6)
    # a window of plain noise keeps its own pair, which differs from the whole image's
    lo_own, hi_own = np.percentile(image[:64, 64:], [1, 99])
    np.testing.assert_allclose([lo[0, -1], hi[0, -1]], [lo_own, hi_own], rtol=1e-5)
    assert not np.isclose(hi[0, -1], whole[1])
