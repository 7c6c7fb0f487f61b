"""Average the weights of a training run's last checkpoints (stochastic weight averaging).

A network trained only on generated images meets real micrographs out of its
training distribution, where the weights of neighbouring checkpoints can score
quite differently; their average sits in a flatter region and varies less.
Run after :mod:`exo_vision.learn.train` with the checkpoints it kept::

    python -m exo_vision.learn.average --out exo_vision/segmentation/learned/models/ev_unet CKPT.pt...
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from exo_vision.learn.export import export_model
from exo_vision.learn.train import TrainConfig, load_checkpoint, synthetic_validation
from exo_vision.learn.unet import UNet

logger = logging.getLogger(__name__)


def average_state_dicts(states: list[dict]) -> dict:
    """Mean of every floating-point tensor (weights and batch-norm statistics); others from the last."""
    out = {}
    for key, value in states[-1].items():
        if torch.is_floating_point(value):
            out[key] = sum(s[key] for s in states) / len(states)
        else:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exo_vision.learn.average", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files written by the training")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    states = sorted((load_checkpoint(p) for p in args.checkpoints), key=lambda s: s["step"])
    config = TrainConfig(**states[-1]["config"])
    net = UNet(base=config.base, depth=config.depth, antialias=config.antialias)
    net.load_state_dict(average_state_dicts([s["net"] for s in states]))
    net.eval()
    last = UNet(base=config.base, depth=config.depth, antialias=config.antialias)
    last.load_state_dict(states[-1]["net"])
    last.eval()
    validation = {
        "synthetic": synthetic_validation(net, config),
        "synthetic_last_checkpoint_alone": synthetic_validation(last, config),
    }
    logger.info("synthetic validation: %s", validation)
    steps = [s["step"] for s in states]
    history = {"steps_done": steps[-1], "seconds": states[-1]["seconds"], "loss": states[-1]["history"]}
    command = " ".join(["python -m exo_vision.learn.average", *(argv if argv is not None else sys.argv[1:])])
    onnx_path, card_path = export_model(
        net,
        args.out,
        config=states[-1]["config"],
        history=history,
        validation=validation,
        command=command,
        notes=[f"weights: the average of the checkpoints at steps {', '.join(map(str, steps))}"],
    )
    logger.info("wrote %s and %s", onnx_path, card_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
