"""A U-Net in PyTorch from an exported ONNX model, so a shipped or fine-tuned ``.onnx`` can be fine-tuned again.

The package ships only ONNX files (no training checkpoint). The exporter folds
each batch normalisation into the convolution before it, so the ONNX file holds,
per convolution, a weight and a bias. Loading puts the weight into the
convolution and the bias into the batch normalisation that follows it, set to
the identity (unit scale, zero mean, unit variance). With the normalisations
kept in inference mode while fine-tuning (:func:`freeze_batchnorm`), the
PyTorch network computes exactly what the ONNX file does, and fine-tuning moves
every weight and bias from there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from exo_vision.learn.unet import UNet


def _torch_convolutions(net: UNet) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
    """Every convolution in forward order, with the batch normalisation that follows it (or None)."""
    out: list[tuple[nn.Module, nn.BatchNorm2d | None]] = []

    def block(seq: nn.Module) -> None:
        layers = list(seq.children())
        for conv_at, norm_at in ((0, 1), (3, 4)):
            norm = layers[norm_at] if len(layers) > norm_at else None
            if not isinstance(norm, nn.BatchNorm2d):
                raise TypeError(f"a U-Net block is not convolution, batch norm, ReLU, convolution, batch norm: {seq}")
            out.append((layers[conv_at], norm))

    for down in net.down:
        block(down)
    for up, merge in zip(net.up, net.merge, strict=True):
        out.append((up, None))
        block(merge)
    out.append((net.head, None))
    return out


def _groups(node) -> int:
    """The ``group`` attribute of an ONNX convolution node (1 when absent)."""
    return next((int(a.i) for a in node.attribute if a.name == "group"), 1)


def unet_from_onnx(onnx_path: str | Path, *, base: int, depth: int, antialias: bool = False) -> UNet:
    """Rebuild the :class:`~exo_vision.learn.unet.UNet` an ONNX file was exported from.

    Parameters
    ----------
    onnx_path : str or Path
        A model written by :func:`exo_vision.learn.export.export_model`.
    base, depth : int
        Its architecture (the model card's ``architecture``).
    antialias : bool
        Whether it down-samples with :class:`~exo_vision.learn.unet.BlurPool`
        (the card's ``architecture.antialias``); the pooling's fixed blur
        convolutions (one group per channel) carry no weights to load.

    Returns
    -------
    UNet
        In eval mode, with batch normalisations folded as described above.

    Raises
    ------
    ValueError
        When the file's convolutions do not fit a U-Net of this base and depth.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose") and _groups(n) == 1]
    net = UNet(base=base, depth=depth, antialias=antialias)
    targets = _torch_convolutions(net)
    if len(convs) != len(targets):
        raise ValueError(
            f"{onnx_path} has {len(convs)} convolutions, a U-Net of base {base} and depth {depth} has {len(targets)}; "
            "its model card does not describe it. Fine-tune from a model written by exo_vision."
        )
    state = {}
    names = {id(m): n for n, m in net.named_modules()}
    for node, (conv, norm) in zip(convs, targets, strict=True):
        w = weights[node.input[1]]
        b = (
            weights[node.input[2]]
            if len(node.input) > 2
            else np.zeros(w.shape[1 if node.op_type == "ConvTranspose" else 0], np.float32)
        )
        prefix = names[id(conv)]
        weight = conv.get_parameter("weight")
        if tuple(weight.shape) != w.shape:
            raise ValueError(f"{onnx_path}: convolution {prefix} has shape {w.shape}, expected {tuple(weight.shape)}")
        state[f"{prefix}.weight"] = torch.from_numpy(np.array(w, np.float32))
        if norm is None:
            state[f"{prefix}.bias"] = torch.from_numpy(np.array(b, np.float32))
        else:
            n = names[id(norm)]
            state[f"{n}.weight"] = torch.ones(b.shape[0])
            state[f"{n}.bias"] = torch.from_numpy(np.array(b, np.float32))
            state[f"{n}.running_mean"] = torch.zeros(b.shape[0])
            state[f"{n}.running_var"] = torch.full((b.shape[0],), 1.0 - norm.eps)
            state[f"{n}.num_batches_tracked"] = torch.tensor(0)
    state.update({k: v for k, v in net.state_dict().items() if k.startswith("blur.")})
    net.load_state_dict(state)
    return net.eval()


def freeze_batchnorm(net: nn.Module) -> nn.Module:
    """Put every batch normalisation in inference mode (fixed statistics; its scale and shift still learn)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    return net
