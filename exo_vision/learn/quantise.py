"""An int8 copy of a trained network, for faster inference on the CPU.

The network's convolutions are quantised statically (onnxruntime's QDQ format):
weights to signed 8-bit integers per output channel, activations to unsigned
8-bit integers with ranges read on a few generated micrographs (calibration).
The first convolution (it reads the micrograph) and the last (it makes the
maps the post-processing thresholds) stay in float; with them in float the
shipped copy scores as the float network does on the real micrographs and
runs as fast as a copy with every convolution in int8
(``docs/segmenter_decision_rules.md``, addenda 53-54).
Weights keep 7 bits of range (``reduce_range``): on x86 processors without
VNNI, onnxruntime adds two uint8 x int8 products in a saturating 16-bit lane,
and with 7-bit weights that sum cannot saturate, so every processor computes the
same integers and the same labels.

The int8 network gets a card of its own beside it. The card names the float
network it was made from (``float_file``, ``float_sha256``): fine-tuning
(:mod:`exo_vision.learn.finetune`) starts from those float weights, never from
the rounded ones.

Command line (needs the ``[train]`` extra for the ``onnx`` package)::

    python -m exo_vision.learn.quantise exo_vision/segmentation/learned/models/ev_unet.onnx \\
        --out exo_vision/segmentation/learned/models/ev_unet_int8.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exo_vision._shared.atomic import atomic_write_bytes
from exo_vision.learn.curated import CuratedMicrograph
from exo_vision.segmentation.learned.network_input import normalise_for_network
from exo_vision.segmentation.learned.weights import (
    INT8_CARD_KEYS,
    ModelCard,
    float_copy_path,
    load_card,
    refuse_overwrite,
)

logger = logging.getLogger(__name__)

#: Seeds of the generated micrographs whose activations set the int8 ranges (never used in training,
#: validation or any benchmark set).
CALIBRATION_SEEDS: tuple[int, ...] = tuple(range(770000, 770008))
#: Side of each calibration micrograph, working-scale pixels.
CALIBRATION_SIDE_PX = 384
#: Look-space of the generator the calibration micrographs come from.
CALIBRATION_GENERATOR = "random-1"
#: Name of the network's input in the exported ONNX graph.
INPUT_NAME = "image"
#: Version suffix of an int8 copy (``1.0`` -> ``1.0-int8.2``): recipe 2 keeps the edge convolutions in float
#: (recipe 1, every convolution in int8, made ``1.0-int8``).
VERSION_SUFFIX = "-int8.2"


def calibration_inputs(
    card: ModelCard,
    *,
    seeds: Sequence[int] = CALIBRATION_SEEDS,
    side_px: int = CALIBRATION_SIDE_PX,
    generator: str = CALIBRATION_GENERATOR,
) -> list[np.ndarray]:
    """Network inputs made from generated micrographs at the model's working scale.

    Parameters
    ----------
    card : ModelCard
        The model (its working scale and input multiple).
    seeds : sequence of int
        One generated micrograph per seed.
    side_px : int
        Their side, working-scale pixels (rounded down to the model's multiple).
    generator : str
        Look-space of :func:`exo_vision.synthetic.tem_random.make_random_tem`.

    Returns
    -------
    list of (1, 1, side, side) ndarray of float32
        Normalised as :func:`~exo_vision.segmentation.learned.network_input.normalise_for_network` does.
    """
    from exo_vision.synthetic.tem_random import make_random_tem

    side = max(card.multiple_of, side_px // card.multiple_of * card.multiple_of)
    out = []
    for seed in seeds:
        sample = make_random_tem((side, side), pixel_size_nm=card.working_scale_nm, rng=int(seed), version=generator)
        x = normalise_for_network(sample.image.astype(np.float32))
        out.append(np.ascontiguousarray(x[None, None], dtype=np.float32))
    return out


def curated_calibration_inputs(
    card: ModelCard,
    micrographs: Sequence[CuratedMicrograph],
    *,
    side_px: int = CALIBRATION_SIDE_PX,
    count: int = len(CALIBRATION_SEEDS),
) -> list[np.ndarray]:
    """Network inputs made from a lab's own micrographs (for an int8 copy of a fine-tuned model).

    Each micrograph is resampled to the model's working scale and normalised as
    at run time; its central ``side_px`` square (or all of it, if smaller) is
    one input. The first ``count`` micrographs are used.

    Parameters
    ----------
    card : ModelCard
        The model (its working scale and input multiple).
    micrographs : sequence of CuratedMicrograph
        Images with their pixel sizes (their outlines are not used).
    side_px : int
        Largest input side, working-scale pixels.
    count : int
        Most inputs made.

    Returns
    -------
    list of (1, 1, m, n) ndarray of float32

    Raises
    ------
    ValueError
        If ``micrographs`` is empty.
    """
    from exo_vision.segmentation.learned.network_input import to_working_scale

    if not micrographs:
        raise ValueError("calibrating an int8 copy needs at least one micrograph")
    out = []
    for micrograph in list(micrographs)[:count]:
        x = normalise_for_network(
            to_working_scale(
                micrograph.image, pixel_size_nm=micrograph.pixel_size_nm, working_scale_nm=card.working_scale_nm
            )
        )
        sides = [max(card.multiple_of, min(s, side_px) // card.multiple_of * card.multiple_of) for s in x.shape]
        r0, c0 = max((x.shape[0] - sides[0]) // 2, 0), max((x.shape[1] - sides[1]) // 2, 0)
        crop = x[r0 : r0 + sides[0], c0 : c0 + sides[1]]
        pad = [(0, max(0, s - c)) for s, c in zip(sides, crop.shape, strict=True)]
        out.append(np.ascontiguousarray(np.pad(crop, pad, mode="edge")[None, None], dtype=np.float32))
    return out


def edge_convolutions(onnx_path: Path) -> list[str]:
    """Names of the network's first and last convolutions: the ones that read its input or make its output.

    The first reads the one-channel micrograph at full working resolution and
    the last makes the maps the post-processing thresholds; one-input nodes
    (an activation) between a convolution and the output are looked through.

    Parameters
    ----------
    onnx_path : Path
        A float network in ONNX format.

    Returns
    -------
    list of str
        Node names, the input's convolution first, without repeats.

    Raises
    ------
    ValueError
        If the graph has no convolution at its input or its output.
    """
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    inputs = {i.name for i in graph.input}
    producer = {out: node for node in graph.node for out in node.output}
    first = [n.name for n in graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]
    last = []
    for output in graph.output:
        node = producer.get(output.name)
        while node is not None and node.op_type != "Conv" and len(node.input) == 1:
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "Conv":
            last.append(node.name)
    if not first or not last:
        raise ValueError(
            f"{onnx_path.name}: no convolution reads the network's input or makes its output, so the int8 recipe "
            "(first and last convolutions in float) does not apply to it; use the float model as it is"
        )
    return list(dict.fromkeys(first + last))


def quantise_network(
    float_onnx: Path, out_onnx: Path, inputs: Sequence[np.ndarray], *, float_nodes: Sequence[str] = ()
) -> None:
    """Write the int8 (QDQ) copy of ``float_onnx`` to ``out_onnx``, calibrated on ``inputs``.

    ``float_nodes`` names nodes left in float (e.g. :func:`edge_convolutions`).

    Raises
    ------
    ValueError
        If ``inputs`` is empty.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not inputs:
        raise ValueError("quantisation needs at least one calibration input")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items: Iterator[np.ndarray] = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._items, None)
            return None if x is None else {INPUT_NAME: x}

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        staged = Path(work) / "int8.onnx"
        # the exported graph's spatial sizes are symbolic: ONNX's own shape inference suffices
        quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(staged),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(float_nodes),
        )
        atomic_write_bytes(out_onnx, staged.read_bytes())


#: How an int8 copy calibrated on generated micrographs is made again.
QUANTISE_COMMAND = "python -m exo_vision.learn.quantise <float model>.onnx --out <int8 model>.onnx"
#: How an int8 copy calibrated on a lab's training micrographs is made again (the calibration names them).
CURATED_QUANTISE_COMMAND = (
    "exo-vision train ... --int8 (calibrated on the training micrographs named under calibration; "
    "python -m exo_vision.learn.quantise would calibrate on generated micrographs instead)"
)


def int8_card(
    card: ModelCard,
    *,
    file_name: str,
    sha256: str,
    float_file: str,
    float_nodes: Sequence[str],
    calibration: dict[str, Any] | None = None,
    command: str = QUANTISE_COMMAND,
) -> dict[str, Any]:
    """The card of the int8 copy of ``card``'s network (written as ``file_name``, float network ``float_file``).

    ``float_nodes`` names the nodes left in float; ``calibration`` describes the calibration
    inputs (default: the generated micrographs of :func:`calibration_inputs`); ``command`` is
    how the copy is made again.
    """
    import onnxruntime

    doc = {k: v for k, v in json.loads(json.dumps(card.card)).items() if k not in INT8_CARD_KEYS}
    base_version = str(doc.get("version", card.version))
    doc["version"] = base_version + VERSION_SUFFIX
    doc["file"] = file_name
    doc["sha256"] = sha256
    doc["float_file"] = float_file
    doc["float_sha256"] = card.float_sha256
    if "validation" in doc:
        # measured with the float network; benchmarks/tem_real.py --record-in-card measures this copy
        doc["validation_of_float"] = doc.pop("validation")
    doc["quantisation"] = {
        "of": {"name": card.name, "version": base_version, "sha256": card.float_sha256},
        "method": "onnxruntime.quantization.quantize_static, QDQ format, after quant_pre_process",
        "weights": "int8 per output channel, 7-bit range (reduce_range: no 16-bit saturation without VNNI)",
        "float_nodes": list(float_nodes),
        "activations": "uint8, MinMax ranges",
        "calibration": calibration
        or {
            "generator": f"exo_vision.synthetic.tem_random {CALIBRATION_GENERATOR}",
            "seeds": list(CALIBRATION_SEEDS),
            "side_px": CALIBRATION_SIDE_PX,
            "scale_nm": card.working_scale_nm,
        },
        "onnxruntime": onnxruntime.__version__,
        "command": command,
    }
    return doc


def quantise_model(
    model: str | Path | None, out: str | Path, *, micrographs: Sequence[CuratedMicrograph] | None = None
) -> Path:
    """Write an int8 copy of ``model`` as ``out`` (``.onnx``) with its card (``.json``) beside it.

    The float network is referred to by name when it lies in ``out``'s folder,
    and otherwise copied there as ``<out stem>_float.onnx``.

    Parameters
    ----------
    model : str or Path, optional
        A shipped model's name (default ``"ev-unet"``'s float network) or a model's ``.onnx`` path.
    out : str or Path
        The int8 model's ``.onnx`` path; neither it nor its card may exist.
    micrographs : sequence of CuratedMicrograph, optional
        Calibrate on these (a lab's training micrographs; see :func:`curated_calibration_inputs`)
        instead of generated ones.

    Returns
    -------
    Path
        ``out``; :func:`~exo_vision.segmentation.learned.weights.load_card` reads it with its checksum verified.

    Raises
    ------
    ValueError
        If ``out`` does not end in ``.onnx`` or exists, or the model is already an int8 copy.
    """
    card = load_card(model if model is not None else "ev-unet-float")
    if card.float_onnx_path != card.onnx_path:
        raise ValueError(f"{card.onnx_path} is already an int8 copy (of {card.float_onnx_path.name})")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"the int8 model's file must end in .onnx, got {out.name}")
    refuse_overwrite((out, out.with_suffix(".json"), float_copy_path(out)))
    out.parent.mkdir(parents=True, exist_ok=True)
    float_path = card.onnx_path
    if float_path.resolve().parent != out.resolve().parent:
        copied = float_copy_path(out)
        shutil.copyfile(float_path, copied)
        float_path = copied
    if micrographs:
        inputs = curated_calibration_inputs(card, micrographs)
        described: dict[str, Any] | None = {
            "micrographs": [m.name for m in list(micrographs)[: len(inputs)]],
            "side_px": CALIBRATION_SIDE_PX,
            "scale_nm": card.working_scale_nm,
        }
    else:
        inputs, described = calibration_inputs(card), None
    float_nodes = edge_convolutions(card.onnx_path)
    quantise_network(card.onnx_path, out, inputs, float_nodes=float_nodes)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    doc = int8_card(
        card,
        file_name=out.name,
        sha256=digest,
        float_file=float_path.name,
        float_nodes=float_nodes,
        calibration=described,
        command=CURATED_QUANTISE_COMMAND if micrographs else QUANTISE_COMMAND,
    )
    atomic_write_bytes(out.with_suffix(".json"), (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exo_vision.learn.quantise MODEL --out OUT``: write an int8 copy of a model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the float model: a shipped model's name or a .onnx path (card beside it)")
    parser.add_argument("--out", required=True, help="the int8 model's .onnx path (its card is written beside it)")
    args = parser.parse_args(argv)
    try:
        written = quantise_model(args.model, args.out)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("wrote %s and %s", written, written.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
