"""Export a trained U-Net to ONNX and write its model card beside it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from exo_vision.learn.targets import TARGET_CHANNELS
from exo_vision.learn.unet import WithSigmoid
from exo_vision.segmentation.learned.network_input import NORMALISE_PERCENTILES
from exo_vision.segmentation.learned.postprocess import InstanceThresholds
from exo_vision.synthetic.tem_random import GENERATOR_VERSION

#: Model-card format version.
CARD_FORMAT = 1


def onnx_bytes(net: torch.nn.Module, *, multiple_of: int) -> bytes:
    """The network (with its output sigmoid) as ONNX bytes, any input height and width."""
    wrapped = WithSigmoid(net).eval()
    example = torch.zeros(1, 1, 4 * multiple_of, 4 * multiple_of)
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,  # type: ignore[arg-type]  # torch's stub names paths only; it writes to any binary file
            input_names=["image"],
            output_names=["maps"],
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "maps": {0: "batch", 2: "height", 3: "width"},
            },
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export_model(
    net: torch.nn.Module,
    out: Path,
    *,
    config: dict[str, Any],
    history: dict[str, Any],
    validation: dict[str, Any],
    command: str,
    name: str = "ev-unet",
    version: str = "1.0",
    base_model: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``<out>.onnx`` and its model card ``<out>.json`` (both atomically).

    Parameters
    ----------
    net : torch.nn.Module
        The trained :class:`exo_vision.learn.unet.UNet` (eval mode).
    out : Path
        Output path without suffix.
    config : dict
        The training settings (``TrainConfig`` as a dict).
    history : dict
        ``steps_done``, ``seconds`` and the loss curve from the training.
    validation : dict
        Validation figures to record.
    command : str
        The command that made the model.
    name, version : str
        Model name and version.
    base_model : dict, optional
        For a fine-tuned model: the name, version and sha256 it started from.
    training_data : dict, optional
        What the model was trained on (generated micrographs by default).
    notes : list of str, optional
        Anything else a reader of the card should know about how the weights were made.

    Returns
    -------
    (Path, Path)
        The ONNX file and the card.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    multiple_of = 2 ** (int(config["depth"]) - 1)
    data = onnx_bytes(net, multiple_of=multiple_of)
    onnx_path = out.with_suffix(".onnx")
    card_path = out.with_suffix(".json")
    card = {
        "card_format": CARD_FORMAT,
        "name": name,
        "version": version,
        "file": onnx_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "architecture": {
            "type": "U-Net",
            "base_channels": int(config["base"]),
            "depth": int(config["depth"]),
            "antialias": bool(config.get("antialias", False)),
            "parameters": int(sum(p.numel() for p in net.parameters())),
            "outputs": list(TARGET_CHANNELS),
            "output_activation": "sigmoid",
        },
        "input": {
            "working_scale_nm": float(config["working_scale_nm"]),
            "channels": 1,
            "multiple_of": multiple_of,
            "normalisation": f"percentiles {NORMALISE_PERCENTILES[0]:g} and {NORMALISE_PERCENTILES[1]:g} "
            "of the working-scale image mapped to 0 and 1 (exo_vision.segmentation.learned.network_input)",
        },
        "thresholds": asdict(InstanceThresholds()),
        "training": {
            "command": command,
            "config": config,
            "data": training_data
            or {
                "source": "generated micrographs only (no real image)",
                "generators": {
                    "exo_vision.synthetic.tem_random": str(config.get("generator", GENERATOR_VERSION)),
                    "exo_vision.synthetic.tem": "first generator, 8 % of samples",
                },
            },
            "steps": int(history["steps_done"]),
            "cpu_minutes": round(history["seconds"] / 60, 1),
            "loss_curve": history["loss"][:: max(len(history["loss"]) // 40, 1)],
            "torch": torch.__version__,
            "python": platform.python_version(),
            "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
            "notes": notes or [],
        },
        "base_model": base_model,
        "validation": validation,
    }
    _write_atomic(onnx_path, data)
    _write_atomic(card_path, (json.dumps(card, indent=1) + "\n").encode("utf-8"))
    return onnx_path, card_path
