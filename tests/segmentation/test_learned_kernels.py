"""The int8 default gives the same maps, and a micrograph the same vesicles, whichever x86 kernels run.

onnxruntime chooses its convolution kernels from the processor's vector features. valgrind presents a
processor with AVX2 and FMA but no AVX-512 and no VNNI, the features of many laptops, so a network run
under valgrind takes the kernels such a laptop takes. The int8 network keeps 7 bits of weight range so that
those kernels (16-bit pair sums) cannot saturate and compute the same integers as VNNI does (the models'
README); this test holds it to that on this machine, where it can fail: it is skipped where valgrind is
missing or where the processor has no AVX-512 (both sides would take the same kernels).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.environment import processor_features
from exo_vision.segmentation.learned.network_input import normalise_for_network
from exo_vision.synthetic.tem import make_synthetic_tem

VALGRIND = shutil.which("valgrind")
SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"

#: Run one network pass on a saved input, save the maps, print the processor features the process saw.
CHILD = """
import json, sys
import numpy as np
from exo_vision.environment import processor_features
from exo_vision.segmentation.learned.runtime import _session
from exo_vision.segmentation.learned.weights import load_card
card = load_card(sys.argv[1])
session = _session(str(card.onnx_path), card.sha256, 1)
maps = session.run(None, {session.get_inputs()[0].name: np.load(sys.argv[2])})[0]
np.save(sys.argv[3], maps)
print(json.dumps(processor_features()))
"""

pytestmark = [
    pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed"),
    pytest.mark.skipif("AVX512F" not in processor_features(), reason="no AVX-512: valgrind's kernels are this CPU's"),
]


def _maps(model: str, x_file, out, *, under_valgrind: bool) -> tuple[np.ndarray, list[str]]:
    command = [sys.executable, "-c", CHILD, model, str(x_file), str(out)]
    if under_valgrind:
        command = [VALGRIND, "--tool=none", "-q", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    return np.load(out), json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def network_input(tmp_path_factory):
    image, _ = make_synthetic_tem((192, 192), pixel_size_nm=3.0, difficulty="hard", rng=31)
    path = tmp_path_factory.mktemp("kernels") / "x.npy"
    np.save(path, normalise_for_network(image)[None, None].astype(np.float32))
    return path


def test_int8_default_maps_are_identical_on_avx2_kernels(network_input, tmp_path):
    native, native_features = _maps("ev-unet", network_input, tmp_path / "native.npy", under_valgrind=False)
    avx2, avx2_features = _maps("ev-unet", network_input, tmp_path / "avx2.npy", under_valgrind=True)
    assert "AVX512F" in native_features and "AVX512F" not in avx2_features  # two kernel paths really ran
    assert "AVX2" in avx2_features
    assert native.shape == (1, 3, 192, 192) and float(native.max()) > 0.5  # maps with vesicles in them
    np.testing.assert_array_equal(avx2, native)


def test_a_micrograph_gives_the_same_vesicles_on_avx2_kernels(tmp_path):
    # end to end: resampling, network, post-processing and measurement, each in its own process
    tables = {}
    for name, prefix in (("native", []), ("avx2", [VALGRIND, "--tool=none", "-q"])):
        out = tmp_path / name
        command = [*prefix, sys.executable, "-m", "exo_vision.cli.main", "tem", str(SAMPLE), "--out", str(out)]
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
        machine = json.loads((out / "run.json").read_text())["machine"]
        assert ("AVX512F" in machine["processor_features"]) is (name == "native")  # run.json tells them apart
        tables[name] = (
            (out / "tem_medium_0.8nm_vesicles.csv").read_bytes(),
            tifffile.imread(out / "tem_medium_0.8nm_labels.tif"),
        )
    assert len(pd.read_csv(tmp_path / "native" / "tem_medium_0.8nm_vesicles.csv")) >= 5
    assert tables["avx2"][0] == tables["native"][0]  # the same table, byte for byte
    np.testing.assert_array_equal(tables["avx2"][1], tables["native"][1])
