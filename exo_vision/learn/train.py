"""Train the learned vesicle segmenter from generated micrographs and export it with its model card.

Reproducible from the repository: the samples come from seeded generators, the
network's initial weights from ``--seed``, and the export writes the ONNX file,
its sha256 and the model card beside it. On 2 CPU cores the shipped model took
the time recorded in its card. Run::

    .venv/bin/python -m exo_vision.learn.train --out exo_vision/segmentation/learned/models/ev_unet

The training framework (PyTorch) is the ``[train]`` extra; this module is never
imported when exo_vision runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from exo_vision.learn.data import make_pool, make_sample
from exo_vision.learn.export import export_model
from exo_vision.learn.unet import UNet
from exo_vision.synthetic.tem_random import GENERATOR_VERSION

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (recorded in the model card).

    Attributes
    ----------
    working_scale_nm : float
        Pixel edge length the network works at, nm.
    base, depth : int
        U-Net channels at the top level, number of resolution levels.
    patch_px, batch : int
        Training patch side (working-scale pixels) and patches per step.
    steps : int
        Optimiser steps at most.
    max_minutes : float
        Training time at most (0: no limit); the learning-rate schedule follows
        whichever of steps and minutes runs out first.
    pool_size : int
        Generated samples held in memory; ``refresh_every`` steps replace
        ``refresh_count`` of them with new ones.
    learning_rate : float
        Peak AdamW learning rate (cosine decay to 5 % of it).
    seed : int
        Seed of the network's initial weights, the sample order and the generator.
    threads : int
        CPU threads for PyTorch.
    checkpoint_every : int
        Steps between checkpoints.
    generator : str
        Look-space of the randomised generator
        (:data:`exo_vision.synthetic.tem_random.GENERATOR_VERSIONS`).
    tone_curves : float
        Probability that a training image's normalised grey levels pass through a
        random increasing tone curve (:func:`random_tone_curves`); 0 leaves the
        grey levels to the gain and offset alone.
    antialias : bool
        Down-sample with blurred pooling (:class:`exo_vision.learn.unet.BlurPool`)
        so the network's maps depend less on where the image starts.
    """

    working_scale_nm: float = 3.0
    base: int = 16
    depth: int = 4
    patch_px: int = 256
    batch: int = 8
    steps: int = 6000
    max_minutes: float = 0.0
    pool_size: int = 1600
    refresh_every: int = 50
    refresh_count: int = 24
    learning_rate: float = 2e-3
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 200
    generator: str = GENERATOR_VERSION
    tone_curves: float = 0.0
    antialias: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.tone_curves <= 1.0:
            raise ValueError(
                f"`tone_curves` is the share of training images given a random tone curve and must lie "
                f"between 0 and 1, got {self.tone_curves:g} (e.g. --tone-curves 0.5)"
            )


#: Grey levels of the tone curves' knots (the inner three are drawn), in normalised units.
TONE_KNOTS_X = (0.0, 0.25, 0.5, 0.75, 1.0)


def tone_curve(images: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """Grey levels mapped by a piecewise-linear curve through the knots, per image.

    Parameters
    ----------
    images : (B, 1, H, W) tensor
        Normalised grey levels (about 0 to 1).
    inner : (B, 3) tensor
        The curve's values at 1/4, 1/2 and 3/4, ascending; it passes through
        (0, 0) and (1, 1) and continues beyond them with its end segments' slopes.

    Returns
    -------
    (B, 1, H, W) tensor
    """
    b = images.shape[0]
    ys = torch.cat([torch.zeros(b, 1), inner, torch.ones(b, 1)], dim=1)
    step = TONE_KNOTS_X[1]
    segment = torch.clamp(torch.floor(images / step), 0, len(TONE_KNOTS_X) - 2).long()
    start = torch.gather(ys, 1, segment.reshape(b, -1)).reshape(images.shape)
    end = torch.gather(ys, 1, (segment + 1).reshape(b, -1)).reshape(images.shape)
    return start + (end - start) * (images - segment * step) / step


def random_tone_curves(images: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Each image, with ``probability``, through a random increasing :func:`tone_curve`.

    The curve's inner values are the sorted draws of three uniform numbers in [0, 1],
    so every image keeps its polarity and its ends (0 and 1) while the relations of
    the grey levels between them change.
    """
    b = images.shape[0]
    chosen = torch.rand(b, generator=generator) < probability
    inner = torch.sort(torch.rand(b, 3, generator=generator), dim=1).values
    curved = tone_curve(images, inner)
    return torch.where(chosen.view(b, 1, 1, 1), curved, images)


def _augment(
    images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator, *, tone_curves: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation by 90 degrees, flips, tone curves and grey-level gain/offset (the targets only move)."""
    k = int(torch.randint(0, 4, (1,), generator=generator))
    images, targets = torch.rot90(images, k, (2, 3)), torch.rot90(targets, k, (2, 3))
    if bool(torch.randint(0, 2, (1,), generator=generator)):
        images, targets = images.flip(3), targets.flip(3)
    b = images.shape[0]
    gain = 1 + 0.25 * (torch.rand(b, 1, 1, 1, generator=generator) - 0.5)
    offset = 0.2 * (torch.rand(b, 1, 1, 1, generator=generator) - 0.5)
    if tone_curves > 0:
        images = random_tone_curves(images, tone_curves, generator)
    return images * gain + offset, targets


def loss_terms(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Foreground and boundary binary cross-entropy, distance-map squared error.

    ``targets`` holds the three target channels and optionally a fourth, a per-pixel
    weight (:func:`exo_vision.learn.targets.with_known`: 0 where the annotation says
    nothing); each term is then the mean over the weighted pixels.
    """
    weighted = targets.shape[1] > 3  # without a weight channel: the plain mean, as the shipped model was trained
    weight = targets[:, 3] if weighted else targets[:, 0]

    def mean(values: torch.Tensor) -> torch.Tensor:
        return (values * weight).sum() / weight.sum().clamp(min=1.0) if weighted else values.mean()

    pos_weight = torch.tensor(4.0)
    fg = mean(F.binary_cross_entropy_with_logits(logits[:, 0], targets[:, 0], reduction="none"))
    boundary = mean(
        F.binary_cross_entropy_with_logits(logits[:, 1], targets[:, 1], pos_weight=pos_weight, reduction="none")
    )
    distance = mean((torch.sigmoid(logits[:, 2]) - targets[:, 2]) ** 2)
    return {"foreground": fg, "boundary": 0.5 * boundary, "distance": 4.0 * distance}


def load_checkpoint(path: Path) -> dict:
    """A training checkpoint written by :func:`train`: tensors, numbers, strings and containers only.

    Nothing else is unpickled (``weights_only``): a ``.pt`` file runs no code when it is loaded, so a
    checkpoint from elsewhere cannot act on this machine.

    Raises
    ------
    ValueError
        When ``path`` is not such a checkpoint (another kind of file, a damaged or truncated one, or a
        pickle holding other objects), naming the file and what to do.
    """
    import pickle

    try:
        state = torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: not a training checkpoint of exo_vision ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "give the last.pt a run of `exo-vision train` wrote, or an exported .onnx model"
        ) from None
    if not isinstance(state, dict) or "net" not in state:
        raise ValueError(f"{path}: holds no network weights ('net'); give a checkpoint written by `exo-vision train`")
    return state


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    config: TrainConfig,
    *,
    checkpoint_dir: Path,
    init_weights: dict | None = None,
    samples: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None,
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
    frozen_batchnorm: bool = False,
    on_checkpoint: Callable[[UNet, int], None] | None = None,
    check_every: int = 0,
) -> tuple[UNet, dict]:
    """Train a U-Net, resuming from ``checkpoint_dir/last.pt`` when present.

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    checkpoint_dir : Path
        Folder of ``last.pt`` (written every ``config.checkpoint_every`` steps, atomically).
    init_weights : dict, optional
        A state dict to start from (fine-tuning) instead of random weights.
    samples : callable, optional
        ``samples(rng) -> (image, targets)`` for one sample; generated
        micrographs (:func:`exo_vision.learn.data.make_sample`) by default.
    log : callable
        Receives one line of progress text at a time.
    should_stop : callable
        Polled every step; True ends training early (the last checkpoint is kept).
    progress : callable(int, int), optional
        Called after every step with the steps done and ``config.steps``.
    frozen_batchnorm : bool
        Keep batch normalisations in inference mode (fine-tuning a model whose
        normalisations were folded at export, :mod:`exo_vision.learn.onnx_weights`).
    on_checkpoint : callable(UNet, int), optional
        Called with the network (in eval mode) and the steps done before the
        first step of a fresh run, after every ``check_every`` steps, and after
        the last step (checkpoint selection, :func:`exo_vision.learn.finetune.fine_tune`).
        Not called when ``should_stop`` ended the run.
    check_every : int
        Steps between ``on_checkpoint`` calls (0: never).

    Returns
    -------
    net : UNet
        The trained network (eval mode).
    history : dict
        ``steps_done``, ``seconds``, ``loss`` (running mean per logged step).
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    net = UNet(base=config.base, depth=config.depth, antialias=config.antialias)
    if init_weights is not None:
        net.load_state_dict(init_weights)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    rng = np.random.default_rng(config.seed + 1)
    draw = samples or (
        lambda r: make_sample(
            config.patch_px, working_scale_nm=config.working_scale_nm, rng=r, generator=config.generator
        )
    )
    start_step, seconds, history = 0, 0.0, []
    last = checkpoint_dir / "last.pt"
    if last.is_file():
        state = load_checkpoint(last)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        start_step, seconds, history = state["step"], state["seconds"], state["history"]
        rng = np.random.default_rng([config.seed + 1, start_step])
        log(f"resumed at step {start_step}")
    pool_images, pool_targets = _pool(config, draw, rng, log)
    generator = torch.Generator().manual_seed(config.seed + start_step)
    net.train()
    if frozen_batchnorm:
        from exo_vision.learn.onnx_weights import freeze_batchnorm

        freeze_batchnorm(net)
    running = 0.0
    t0 = time.perf_counter() - seconds
    steps_done = start_step
    check = on_checkpoint if check_every > 0 else None
    checked = -1
    if check is not None and start_step == 0:
        checked = _check(net, 0, check, frozen_batchnorm)
    stopped = False
    for step in range(start_step, config.steps):
        fraction = _progress(config, step, time.perf_counter() - t0)
        stopped = should_stop()
        if stopped or fraction >= 1.0:
            break
        lr = config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * fraction)))
        for group in optimiser.param_groups:
            group["lr"] = lr
        if step and step % config.refresh_every == 0:
            for _ in range(config.refresh_count):
                k = int(rng.integers(0, len(pool_images)))
                pool_images[k], pool_targets[k] = draw(rng)
        pick = torch.randint(0, len(pool_images), (config.batch,), generator=generator).numpy()
        images = torch.from_numpy(pool_images[pick].astype(np.float32))[:, None]
        targets = torch.from_numpy(pool_targets[pick].astype(np.float32))
        images, targets = _augment(images, targets, generator, tone_curves=config.tone_curves)
        terms = loss_terms(net(images), targets)
        loss = torch.stack(list(terms.values())).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step > start_step else value
        steps_done = step + 1
        if progress is not None:
            progress(steps_done, config.steps)
        if (step + 1) % 50 == 0:
            elapsed = time.perf_counter() - t0
            history.append((step + 1, round(running, 5)))
            log(
                f"step {step + 1}/{config.steps}  loss {running:.4f}  "
                + " ".join(f"{k} {float(v.detach()):.3f}" for k, v in terms.items())
                + f"  lr {lr:.2e}  {elapsed / 60:.1f} min"
            )
        if check is not None and steps_done % check_every == 0:
            checked = _check(net, steps_done, check, frozen_batchnorm)
        if (step + 1) % config.checkpoint_every == 0:
            _save_checkpoint(
                last,
                {
                    "net": net.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "step": step + 1,
                    "seconds": time.perf_counter() - t0,
                    "history": history,
                    "config": asdict(config),
                },
            )
    if check is not None and not stopped and checked != steps_done:
        _check(net, steps_done, check, frozen_batchnorm)
    net.eval()
    return net, {"steps_done": steps_done, "seconds": time.perf_counter() - t0, "loss": history}


def _check(net: UNet, steps_done: int, callback: Callable[[UNet, int], None], frozen_batchnorm: bool) -> int:
    """Hand the network in eval mode to ``callback``, then put it back in training mode; returns ``steps_done``."""
    net.eval()
    with torch.no_grad():
        callback(net, steps_done)
    net.train()
    if frozen_batchnorm:
        from exo_vision.learn.onnx_weights import freeze_batchnorm

        freeze_batchnorm(net)
    return steps_done


def _progress(config: TrainConfig, step: int, elapsed_s: float) -> float:
    """Fraction of the run done: steps or minutes, whichever is further along."""
    by_steps = step / config.steps
    by_time = elapsed_s / (60 * config.max_minutes) if config.max_minutes > 0 else 0.0
    return max(by_steps, by_time)


def _pool(config: TrainConfig, draw, rng: np.random.Generator, log) -> tuple[np.ndarray, np.ndarray]:
    size = config.patch_px
    first_image, first_targets = draw(rng)  # its channel count (3, or 4 with a loss weight) sizes the pool
    images = np.empty((config.pool_size, size, size), np.float16)
    targets = np.empty((config.pool_size, first_targets.shape[0], size, size), np.float16)
    images[0], targets[0] = first_image, first_targets
    t = time.perf_counter()
    for k in range(1, config.pool_size):
        images[k], targets[k] = draw(rng)
    log(f"{config.pool_size} samples generated in {time.perf_counter() - t:.0f} s")
    return images, targets


def synthetic_validation(net: UNet, config: TrainConfig, *, count: int = 48, seed: int = 10_000_019) -> dict:
    """Pixel losses and detection F1 on generated images never used in training (a fixed seed)."""
    from exo_vision.evaluation import DetectionScore, score_detection
    from exo_vision.segmentation.learned.postprocess import maps_to_instances
    from exo_vision.synthetic.tem_random import MIN_VESICLE_NM

    images, targets = make_pool(
        count, size=config.patch_px, working_scale_nm=config.working_scale_nm, seed=seed, generator=config.generator
    )
    total = DetectionScore()
    min_area = math.pi * (MIN_VESICLE_NM / 2 / config.working_scale_nm) ** 2 * 0.6
    with torch.no_grad():
        maps = torch.sigmoid(net(torch.from_numpy(images.astype(np.float32))[:, None])).numpy()
    for k in range(count):
        truth = _labels_from_targets(targets[k])
        pred = maps_to_instances(maps[k], min_area_px=min_area)
        total = total + score_detection(truth, pred)
    return {
        "images": count,
        "seed": seed,
        "precision": round(total.precision, 4),
        "recall": round(total.recall, 4),
        "f1": round(total.f1, 4),
    }


def _labels_from_targets(targets: np.ndarray) -> np.ndarray:
    """Instances back from the targets (foreground split along the boundary band)."""
    from scipy import ndimage as ndi
    from skimage.segmentation import watershed

    fg = targets[0] > 0.5
    cores, _ = ndi.label(fg & (targets[1] < 0.5))
    return watershed(-targets[2].astype(np.float32), markers=cores, mask=fg).astype(np.int32)


def initial_weights(init: Path | None, config: TrainConfig) -> tuple[dict | None, dict | None]:
    """The state dict to start from, and the base model's summary when it is an exported ``.onnx`` model.

    A ``.pt`` training checkpoint gives its ``"net"`` weights (no base model recorded:
    it is the same run resumed by hand). An ``.onnx`` model is rebuilt in PyTorch
    (:func:`exo_vision.learn.onnx_weights.unet_from_onnx`; its batch normalisations
    were folded at export, so training keeps them frozen) and recorded in the new
    card with its sha256.
    """
    if init is None:
        return None, None
    if init.suffix.lower() != ".onnx":
        return load_checkpoint(init)["net"], None
    from exo_vision.learn.onnx_weights import unet_from_onnx
    from exo_vision.segmentation.learned.weights import load_card

    card = load_card(init)
    arch = card.card.get("architecture", {})
    if (int(arch["base_channels"]), int(arch["depth"])) != (config.base, config.depth):
        raise ValueError(
            f"{init.name} is a U-Net of base {arch['base_channels']} and depth {arch['depth']}; "
            f"pass --base {arch['base_channels']} --depth {arch['depth']} to continue training it"
        )
    if bool(arch.get("antialias", False)) != config.antialias:
        flag = "--antialias" if arch.get("antialias") else "--no-antialias"
        raise ValueError(
            f"{init.name} was trained with{'' if arch.get('antialias') else 'out'} anti-aliased "
            f"pooling; pass {flag} to continue training it"
        )
    if abs(card.working_scale_nm - config.working_scale_nm) > 1e-9:
        raise ValueError(
            f"{init.name} works at {card.working_scale_nm:g} nm/px; pass --working-scale-nm "
            f"{card.working_scale_nm:g} to continue training it"
        )
    net = unet_from_onnx(card.checked_float_network(), base=config.base, depth=config.depth, antialias=config.antialias)
    return net.state_dict(), {**card.summary(), "file": card.onnx_path.name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exo_vision.learn.train",
        description="Train the learned vesicle segmenter on generated micrographs and export "
        "<out>.onnx with its model card <out>.json.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default <out>_checkpoints)")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from these weights instead of random ones: a training checkpoint (.pt) or an exported "
        "model (.onnx, e.g. the shipped one; its batch normalisations stay frozen)",
    )
    parser.add_argument("--version", default="1.0", help="the model's version, recorded in its card")
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        if isinstance(value, bool):
            parser.add_argument(f"--{name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    config = TrainConfig(**{k: getattr(args, k) for k in asdict(defaults)})
    checkpoints = args.checkpoints or args.out.parent / f"{args.out.name}_checkpoints"
    init, base_model = initial_weights(args.init, config)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    net, history = train(
        config, checkpoint_dir=checkpoints, init_weights=init, log=logger.info, frozen_batchnorm=base_model is not None
    )
    validation = synthetic_validation(net, config)
    logger.info("synthetic validation: %s", json.dumps(validation))
    onnx_path, card_path = export_model(
        net,
        args.out,
        config=asdict(config),
        history=history,
        validation={"synthetic": validation},
        command=" ".join(["python -m exo_vision.learn.train", *(argv if argv is not None else sys.argv[1:])]),
        version=args.version,
        base_model=base_model,
    )
    logger.info("wrote %s and %s", onnx_path, card_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
