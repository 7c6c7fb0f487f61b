"""The int8 copy of the network: what ships, how it is made again, and what it keeps of the float network."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from exo_vision.segmentation.learned import weights
from exo_vision.segmentation.learned.network_input import normalise_for_network
from exo_vision.segmentation.learned.runtime import predict_maps, session_for
from exo_vision.segmentation.learned.variants import write_model_variant
from exo_vision.synthetic.tem_random import make_random_tem

pytest.importorskip("onnx")  # quantising needs the [train] extra (part of the test extra); running does not


def _maps(card, image: np.ndarray) -> np.ndarray:
    return predict_maps(session_for(card), normalise_for_network(image), multiple_of=card.multiple_of)


def _generated(seed: int, side: int = 256) -> np.ndarray:
    # seeds far from the calibration seeds (770000-770007)
    return make_random_tem((side, side), pixel_size_nm=3.0, rng=seed).image.astype(np.float32)


def test_shipped_default_is_an_int8_copy_of_the_shipped_float_network():
    int8 = weights.load_card()
    flt = weights.load_card("ev-unet-float")
    assert int8.version == flt.version + "-int8.2"
    assert int8.onnx_path != flt.onnx_path and int8.checked_float_network() == flt.onnx_path
    assert int8.float_sha256 == flt.sha256 == int8.card["quantisation"]["of"]["sha256"]
    assert int8.onnx_path.stat().st_size < flt.onnx_path.stat().st_size / 2
    # the same post-processing and working scale: only the network's arithmetic differs
    assert int8.thresholds == flt.thresholds and int8.working_scale_nm == flt.working_scale_nm
    assert int8.summary()["float_sha256"] == flt.sha256 and "float_sha256" not in flt.summary()


def test_int8_maps_follow_the_float_network():
    int8 = weights.load_card()
    flt = weights.load_card("ev-unet-float")
    for seed in (123, 456):
        image = _generated(seed)
        a, b = _maps(flt, image), _maps(int8, image)
        assert np.abs(a - b).mean() < 0.005
        fa, fb = a[0] > 0.5, b[0] > 0.5
        assert fa.sum() > 500  # the scene holds vesicles
        assert (fa & fb).sum() / (fa | fb).sum() > 0.97


def test_quantise_model_makes_the_shipped_int8_network_again(tmp_path):
    from exo_vision.learn.quantise import CALIBRATION_SEEDS, quantise_model

    out = quantise_model("ev-unet-float", tmp_path / "again.onnx")
    card = weights.load_card(out)
    shipped = weights.load_card()
    # the float network lies elsewhere, so it is copied beside the new file and named by the card
    assert card.float_onnx_path == tmp_path / "again_float.onnx"
    assert card.checked_float_network().read_bytes() == weights.load_card("ev-unet-float").onnx_path.read_bytes()
    assert card.card["quantisation"]["calibration"]["seeds"] == list(CALIBRATION_SEEDS)
    assert card.card["quantisation"]["command"].startswith("python -m exo_vision.learn.quantise")
    assert card.version == shipped.version
    image = _generated(789)
    # the same recipe on another processor may round a calibration range differently: close, not bit-equal
    assert np.abs(_maps(card, image) - _maps(shipped, image)).max() < 0.02
    with pytest.raises(ValueError, match="exists"):
        quantise_model("ev-unet-float", out)
    with pytest.raises(ValueError, match="already an int8 copy"):
        quantise_model(out, tmp_path / "twice.onnx")
    with pytest.raises(ValueError, match=r"must end in \.onnx"):
        quantise_model("ev-unet-float", tmp_path / "x.bin")


def test_a_damaged_float_network_is_named_but_inference_still_runs(tmp_path):
    shipped = weights.load_card()
    for path in (shipped.card_path, shipped.onnx_path, shipped.float_onnx_path):
        assert path is not None
        shutil.copy(path, tmp_path / path.name)
    float_copy = tmp_path / shipped.float_onnx_path.name
    data = bytearray(float_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    float_copy.write_bytes(bytes(data))
    card = weights.load_card(tmp_path / shipped.onnx_path.name)
    assert _maps(card, _generated(321, 128)).shape == (3, 128, 128)
    # a copy is the user's own model: reinstalling exo_vision would not mend it (M4 of probe lab49)
    with pytest.raises(ValueError, match=r"ev_unet\.onnx are damaged.*copy both again from where the model was"):
        card.checked_float_network()
    float_copy.unlink()
    with pytest.raises(ValueError, match=r"ev_unet\.onnx are missing.*ev_unet_int8\.json"):
        weights.load_card(tmp_path / shipped.onnx_path.name).checked_float_network()


def test_a_variant_of_the_int8_model_takes_its_float_network_along(tmp_path):
    path = write_model_variant(tmp_path / "cups.onnx", join_rounder=True)
    card = weights.load_card(path)
    assert card.thresholds.join_rounder and card.version.endswith("-int8.2+join_rounder")
    assert card.float_onnx_path == tmp_path / "cups_float.onnx"
    assert hashlib.sha256(card.checked_float_network().read_bytes()).hexdigest() == weights.load_card().float_sha256
    assert json.loads(path.with_suffix(".json").read_text())["float_file"] == "cups_float.onnx"
    # a model is never overwritten: not even a float network left by an earlier copy of that name
    path.unlink()
    path.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="cups_float.onnx exists"):
        write_model_variant(tmp_path / "cups.onnx", join_rounder=True)


def test_curated_calibration_inputs_are_central_working_scale_crops():
    from exo_vision.learn.curated import CuratedMicrograph
    from exo_vision.learn.quantise import curated_calibration_inputs

    card = weights.load_card()
    rng = np.random.default_rng(0)

    def micrograph(shape, nm):
        image = rng.random(shape).astype(np.float32)
        return CuratedMicrograph(
            name=f"{shape}", image=image, pixel_size_nm=nm, labels=np.zeros(shape, np.int32), source="", kind=""
        )

    small, large = micrograph((100, 130), 3.0), micrograph((2000, 1500), 1.0)
    inputs = curated_calibration_inputs(card, [small, large, small], count=2)
    # 100 x 130 px at 3 nm/px is the working scale already: sides rounded down to the network's multiple (8);
    # 2000 x 1500 px at 1 nm/px is 667 x 500 working pixels: its central 384 px square
    assert [x.shape for x in inputs] == [(1, 1, 96, 128), (1, 1, 384, 384)]
    assert all(x.dtype == np.float32 for x in inputs)
    with pytest.raises(ValueError, match="at least one micrograph"):
        curated_calibration_inputs(card, [])


def test_edge_convolutions_are_the_first_and_the_head_and_stay_float_in_the_shipped_copy():
    import onnx

    from exo_vision.learn.quantise import edge_convolutions

    flt = weights.load_card("ev-unet-float")
    names = edge_convolutions(flt.onnx_path)
    assert names == ["/net/down.0/down.0.0/Conv", "/net/head/Conv"]
    int8 = weights.load_card()
    assert int8.card["quantisation"]["float_nodes"] == names
    graph = onnx.load(str(int8.onnx_path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    assert len(convs) == 15

    def weight_is_dequantised(node) -> bool:
        feeding = producer.get(node.input[1])
        return feeding is not None and feeding.op_type == "DequantizeLinear"

    # the edge convolutions read float weights (and the first one the raw float input); all others int8 weights
    assert [n for n, node in convs.items() if not weight_is_dequantised(node)] == names
    assert convs[names[0]].input[0] == "image"


def test_edge_convolutions_refuses_a_graph_without_a_convolution(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("maps", TensorProto.FLOAT, [1, 1, 8, 8])
    graph = helper.make_graph([helper.make_node("Sigmoid", ["image"], ["maps"])], "no_conv", [x], [y])
    path = tmp_path / "no_conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    from exo_vision.learn.quantise import edge_convolutions

    with pytest.raises(ValueError, match=r"no_conv\.onnx: no convolution"):
        edge_convolutions(path)
