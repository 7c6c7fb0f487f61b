"""Anti-aliased pooling in the U-Net: hand-computed values, export and the way back for fine-tuning."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_blur_pool_of_one_bright_pixel_is_the_hand_computed_binomial_weights():
    from exo_vision.learn.unet import BlurPool

    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0
    # 2 x 2 maximum at stride 1: ones at rows 0-1, columns 0-1 of a 3 x 3 map. The blur (1 2 1)^T (1 2 1) / 16
    # centred on map pixels 0 and 2 then gives (4 + 2 + 2 + 1) / 16, (2 + 1) / 16, (2 + 1) / 16 and 1 / 16.
    expected = torch.tensor([[9.0, 3.0], [3.0, 1.0]]) / 16
    assert torch.allclose(BlurPool(1)(x)[0, 0], expected)


def test_blur_pool_moves_less_than_max_pool_when_the_image_starts_one_pixel_later():
    from exo_vision.learn.unet import BlurPool

    rng = np.random.default_rng(3)
    line = np.zeros(66, np.float32)
    line[20:23] = 1.0  # a thin bright line, 3 px wide
    line[40] = 1.0
    line += rng.normal(0, 0.01, 66).astype(np.float32)
    image = torch.from_numpy(np.tile(line, (8, 1)))[None, None]
    plain = torch.nn.MaxPool2d(2)
    blur = BlurPool(1)

    def change(pool) -> float:
        a, b = pool(image[..., :64]), pool(image[..., 1:65])
        # where the image starts one pixel later the halved map should move by half a pixel: compare each map
        # with the mean of its neighbours in the other, summed over the row
        return float((b[..., 1:-1] - 0.5 * (a[..., 1:-1] + a[..., 2:])).abs().sum())

    assert change(blur) < 0.6 * change(plain)


def test_antialiased_network_exports_and_comes_back_for_fine_tuning(tmp_path):
    from exo_vision.learn.export import export_model
    from exo_vision.learn.onnx_weights import freeze_batchnorm
    from exo_vision.learn.train import TrainConfig, initial_weights, train
    from exo_vision.learn.unet import UNet

    config = TrainConfig(
        base=4,
        depth=3,
        patch_px=64,
        batch=2,
        steps=2,
        pool_size=4,
        refresh_every=2,
        refresh_count=1,
        threads=1,
        antialias=True,
    )
    net, history = train(config, checkpoint_dir=tmp_path / "ckpt", log=lambda line: None)
    onnx_path, card_path = export_model(
        net, tmp_path / "aa", config=asdict(config), history=history, validation={}, command="t"
    )
    assert json.loads(card_path.read_text())["architecture"]["antialias"] is True
    weights, _ = initial_weights(onnx_path, config)
    rebuilt = UNet(base=4, depth=3, antialias=True)
    rebuilt.load_state_dict(weights)
    freeze_batchnorm(rebuilt.eval())
    x = torch.from_numpy(np.random.default_rng(1).normal(0.5, 0.2, (1, 1, 64, 64)).astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), net(x), atol=1e-4)
    with pytest.raises(ValueError, match="--antialias"):
        initial_weights(onnx_path, TrainConfig(base=4, depth=3))
