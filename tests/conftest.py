"""Shared fixtures."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny untrained model (base 4, depth 2) exported like the shipped one, for fast fine-tuning tests."""
    torch = pytest.importorskip("torch")
    from exo_vision.learn.export import export_model
    from exo_vision.learn.train import TrainConfig
    from exo_vision.learn.unet import UNet

    folder = tmp_path_factory.mktemp("base")
    config = TrainConfig(base=4, depth=2, patch_px=32, batch=2, steps=0)
    torch.manual_seed(0)
    net = UNet(base=4, depth=2)
    with torch.no_grad():  # non-trivial batch statistics, so folding them at export matters
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    net.eval()
    onnx_path, _ = export_model(net, folder / "tiny", config=asdict(config),
                                history={"steps_done": 0, "seconds": 0.0, "loss": []}, validation={}, command="test")
    return onnx_path
