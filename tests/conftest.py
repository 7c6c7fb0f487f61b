"""Shared fixtures and markers of the test suite.

* Paths: ``repo_root``, ``samples_dir`` (the shipped ``sample_images/``) and
  ``shared_data`` (``../shared/data``, real images with truth; tests that need
  it skip cleanly when it is absent).
* ``synthetic_tem``: a small seeded generated micrograph with its truth, made
  once per session.
* ``nan_block_tem``: a seeded generated micrograph with a block of NaN pixels
  (more than a dead-pixel group) over one vesicle and another vesicle cut by
  the image edge.
* Every test that uses napari's ``make_napari_viewer`` or pytest-qt's ``qtbot``
  is marked ``gui`` automatically, so ``pytest -m "not gui"`` runs without a
  display; GUI tests are also ``slow`` (a viewer costs one to two seconds to
  make and tear down), so the fast tier ``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from exo_vision.synthetic.tem import SyntheticTruth, make_synthetic_tem

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_images"
SHARED_DATA = REPO.parent / "shared" / "data"

#: Fixtures that need a display (napari or Qt).
GUI_FIXTURES = frozenset({"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "qapp"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that asks for a GUI fixture as ``gui`` and ``slow``."""
    for item in items:
        if GUI_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The shipped ``sample_images/`` folder."""
    return SAMPLES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real images with truth); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_tem() -> tuple[np.ndarray, SyntheticTruth, float]:
    """A 384 x 384 generated micrograph at 1.5 nm/px (medium level, seed 7), its truth and pixel size."""
    pixel_size_nm = 1.5
    image, truth = make_synthetic_tem((384, 384), pixel_size_nm=pixel_size_nm, difficulty="medium", rng=7)
    return image, truth, pixel_size_nm


#: Side (px) of the NaN block of ``nan_block_tem``: 16 pixels, more than a dead-pixel group (MAX_FILLED_GROUP_PX).
NAN_BLOCK_PX = 4


@pytest.fixture(scope="session")
def nan_block_tem() -> tuple[np.ndarray, float, tuple[int, int]]:
    """A 512 x 512 generated micrograph at 2 nm/px (easy, 8 vesicles, seed 3; float32) with a 4 x 4 block of
    NaN on the centre of the vesicle farthest from the image edges, its pixel size and the block's centre
    (row, column). One other vesicle of it is cut by the image edge."""
    pixel_size_nm = 2.0
    image, truth = make_synthetic_tem(
        (512, 512), pixel_size_nm=pixel_size_nm, difficulty="easy", n_vesicles=8, scale_bar=False, rng=3
    )
    rows = truth.vesicles["centroid_y_nm"].to_numpy() / pixel_size_nm
    cols = truth.vesicles["centroid_x_nm"].to_numpy() / pixel_size_nm
    inner = int(np.argmax(np.minimum.reduce([rows, cols, 512 - rows, 512 - cols])))
    r, c = int(round(rows[inner])), int(round(cols[inner]))
    blocked = image.astype(np.float32)
    half = NAN_BLOCK_PX // 2
    blocked[r - half : r + half, c - half : c + half] = np.nan
    return blocked, pixel_size_nm, (r, c)


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
    onnx_path, _ = export_model(
        net,
        folder / "tiny",
        config=asdict(config),
        history={"steps_done": 0, "seconds": 0.0, "loss": []},
        validation={},
        command="test",
    )
    return onnx_path
