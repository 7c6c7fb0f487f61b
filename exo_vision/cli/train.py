"""`exo-vision train`: fine-tune the vesicle model on the lab's own curated micrographs."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exo_vision._shared.interrupt import StopRequest, signals_request_stop
from exo_vision._shared.paths import display_path

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Fine-tune the learned vesicle segmenter (method unet) on curated micrographs and
write a new model: MODEL.onnx and its model card MODEL.json (base model, data,
number of curated vesicles, validation figures before and after).

Each --from folder is either
  a grid-session output folder: the micrographs the grid session saved that a
  person edited (S_edits.csv lists the edits) or marked with "Outlines checked",
  with S_labels.tif as truth (those saved with neither hold the model's own
  outlines: they are named in a warning and left out); or
  a folder of images with annotations beside them: for X.tif (or X_image.png),
  X_rois.zip / X.zip / X.roi (ImageJ/Fiji ROI Manager), X.geojson (QuPath) or
  X_labels.tif / X_labels.png (label image).

The micrographs are split into training and validation micrographs (never the
same micrograph in both); both models are scored on the validation ones and the
figures printed. The run refuses when there is too little curated data to
validate. Ctrl-C stops it and leaves no model file behind.

Use the new model with:  exo-vision tem ... --model MODEL.onnx
(or choose it in the segmentation dock or the grid session).
"""

EPILOG = """\
examples:
  exo-vision train --from results/grid1 results/grid2 --out models/our_lab.onnx
  exo-vision train --from annotated/ --pixel-size-nm 0.62 --out models/our_lab.onnx --minutes 5
  exo-vision train --from more_grids/ --base-model models/our_lab.onnx --out models/our_lab_v2.onnx
  exo-vision train --from results/grid1 --out models/our_lab.onnx --int8   (and our_lab_int8.onnx)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `train` subcommand."""
    from exo_vision.learn.settings import PARTIAL_GENERATED_FRACTION, FineTuneSettings

    d = FineTuneSettings()
    p = subparsers.add_parser(
        "train",
        help="fine-tune the vesicle model on curated micrographs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        required=True,
        metavar="DIR",
        help="grid-session output folders and/or folders of images with annotations",
    )
    p.add_argument("--out", required=True, metavar="MODEL.onnx", help="the new model (its card MODEL.json beside it)")
    p.add_argument("--base-model", metavar="PATH", help="model to start from (default: the shipped ev-unet)")
    p.add_argument(
        "--pixel-size-nm",
        type=float,
        metavar="NM",
        help="pixel size of annotated images whose files carry no calibration (it wins over a scale bar read from "
        "the image); files calibrated in their metadata keep their own, and those that differ are named in a warning",
    )
    p.add_argument(
        "--override-calibration",
        action="store_true",
        help="apply --pixel-size-nm to every annotated image, also to files calibrated in their metadata",
    )
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps at most (default {d.steps})")
    p.add_argument(
        "--minutes",
        type=float,
        default=d.max_minutes,
        help=f"training time at most in minutes, 0 for no limit (default {d.max_minutes:g})",
    )
    p.add_argument(
        "--validation-fraction",
        type=float,
        default=d.validation_fraction,
        help=f"share of micrographs held out for validation (default {d.validation_fraction:g})",
    )
    p.add_argument(
        "--select-every",
        type=int,
        default=d.select_every_steps,
        metavar="STEPS",
        help="with 3 or more training micrographs, one in five is held out of training and the checkpoint scoring "
        f"best on it every STEPS steps is kept (0: keep the last step; default {d.select_every_steps})",
    )
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of the split and the training (default {d.seed})")
    p.add_argument("--threads", type=int, default=d.threads, help=f"CPU threads (default {d.threads})")
    p.add_argument(
        "--partial-outlines",
        action="store_true",
        help="the annotations outline only some vesicles: the training counts only the outlined vesicles and a "
        f"ring around each, and draws a share of {PARTIAL_GENERATED_FRACTION:g} of its crops from the generator "
        "the model was first trained on (a vesicle nobody outlined is then not taught as background); the "
        "validation precision is then a lower bound",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="also write MODEL_int8.onnx, an 8-bit integer copy calibrated on the training micrographs (faster; "
        "scored on the validation micrographs beside the new model)",
    )
    p.set_defaults(func=run)


def format_figures(before: dict[str, Any], after: dict[str, Any], int8: dict[str, Any] | None = None) -> str:
    """Before/after (and the int8 copy's) validation figures as a small text table."""
    lines = [f"{'':10}{'precision':>10}{'recall':>8}{'F1':>7}{'diam. err %':>13}{'TP/FP/FN':>12}"]
    rows = [("before", before), ("after", after)] + ([("int8 copy", int8)] if int8 is not None else [])
    for name, f in rows:
        diam = "-" if f["diameter_error_pct"] is None else f"{f['diameter_error_pct']:.1f}"
        counts = f"{f['tp']}/{f['fp']}/{f['fn']}"
        lines.append(
            f"{name:10}{_fmt(f['precision']):>10}{_fmt(f['recall']):>8}{_fmt(f['f1']):>7}{diam:>13}{counts:>12}"
        )
    return "\n".join(lines)


def describe_micrograph(micrograph: Any) -> str:
    """A curated micrograph's name and why it counts: its edits (grid session) or its annotation's kind."""
    if micrograph.kind != "grid session":
        return f"{micrograph.name} ({micrograph.kind})"
    edits = f"{micrograph.n_edits} edit{'s' if micrograph.n_edits != 1 else ''}" if micrograph.n_edits else ""
    why = ", ".join(part for part in (edits, "checked" if micrograph.checked else "") if part)
    return f"{micrograph.name} ({why})"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    """Collect, split, fine-tune, score and write; 0 on success, 2 on a usage error, 130 when interrupted.

    SIGTERM (kill, timeout, a cluster's time limit) and Ctrl-C only request a stop, honoured between two
    micrographs read, two segmentations or two training steps: the run then exits 130 with no model file
    and no staging folder left behind, whichever stage it was in and however many signals arrive.
    """
    with signals_request_stop() as stop:
        return _run(args, stop)


def _run(args: argparse.Namespace, stop: StopRequest) -> int:
    from exo_vision.learn.curated import ReadingCancelled, collect_curated
    from exo_vision.learn.finetune import (
        PARTIAL_FIGURES_NOTE,
        STAGE_WRITING,
        FineTuneCancelled,
        load_training_framework,
    )
    from exo_vision.learn.grid_models import verdict_text

    try:
        from exo_vision.learn.finetune import (
            FineTuneSettings,
            fine_tune,
            leave_out_unoutlined,
            split_micrographs,
            trained_on_by,
        )
        from exo_vision.learn.settings import with_partial_outlines

        # the options first: a wrong value is named before minutes of reading data
        settings = FineTuneSettings(
            steps=args.steps,
            max_minutes=args.minutes,
            validation_fraction=args.validation_fraction,
            learning_rate=args.learning_rate,
            seed=args.seed,
            threads=args.threads,
            select_every_steps=args.select_every,
        )
        if args.partial_outlines:
            settings = with_partial_outlines(settings)
        from exo_vision.segmentation.learned.weights import check_model_destination, load_card, refuse_overwrite

        # refuse before reading or training, not after it (the starting model given as --out least of all)
        out = check_model_destination(args.out)
        if out.suffix.lower() != ".onnx":
            raise ValueError(f"--out {out}: the new model's file must end in .onnx, e.g. {out.name}.onnx")
        refuse_overwrite((out, out.with_suffix(".json")), choose="another --out name")
        if args.int8:
            copy = int8_copy_path(out)
            refuse_overwrite((copy, copy.with_suffix(".json")), choose="another --out")
        base = load_card(args.base_model)
        # what the starting model (and those it was fine-tuned from) learnt from is never validated on
        earlier = trained_on_by(base.card, card_path=base.card_path)
        load_training_framework()
        stop.raise_if_requested()
        if args.override_calibration and args.pixel_size_nm is None:
            raise ValueError("--override-calibration applies the pixel size of --pixel-size-nm: give it too")
        micrographs = collect_curated(
            args.sources,
            pixel_size_nm=args.pixel_size_nm,
            override_calibration=args.override_calibration,
            should_stop=stop,
        )
        if not micrographs:
            raise ValueError(
                f"no curated micrograph in {', '.join(map(str, args.sources))}: expected grid-session output "
                "folders (micrographs saved by the grid session) or images with annotations beside them "
                "(X_rois.zip, X.roi, X.geojson or X_labels.tif)."
            )
        micrographs = leave_out_unoutlined(micrographs, settings=settings, say=logger.warning)
        split = split_micrographs(
            micrographs, validation_fraction=settings.validation_fraction, seed=settings.seed, trained_on=earlier
        )
        stop.raise_if_requested()
    except ValueError as err:
        logger.error("%s", err)
        return 2
    except (KeyboardInterrupt, ReadingCancelled):
        logger.error("interrupted: no model written")
        return 130
    train_set, validation = split
    sys.stdout.write(f"curated micrographs taken: {', '.join(map(describe_micrograph, micrographs))}\n")
    sys.stdout.write(
        f"{len(micrographs)} curated micrograph(s), {sum(m.n_vesicles for m in micrographs)} vesicles: "
        f"training on {', '.join(m.name for m in train_set)}; validating on {', '.join(m.name for m in validation)}\n"
    )
    if seen := [m.name for m in train_set if m.key in earlier]:
        sys.stdout.write(
            f"{len(seen)} of them ({', '.join(seen)}) trained the model you start from ({base.name}): kept on the "
            "training side, never validated on\n"
        )
    bar = _bar(settings.steps)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    said: list[str] = []

    def stage(name: str, done: int, total: int) -> None:
        if said[-1:] != [name]:  # one line a stage: the bar shows the training steps
            said.append(name)
            count = f" ({total} segmentation{'s' if total != 1 else ''})" if name != STAGE_WRITING else ""
            if bar is not None:
                bar.write(f"{name}{count}...", file=sys.stderr)
            else:
                sys.stderr.write(f"{name}{count}...\n")

    started = time.perf_counter()

    try:
        result = fine_tune(
            micrographs,
            out=args.out,
            base_model=args.base_model,
            settings=settings,
            split=split,
            progress=progress,
            should_stop=stop,
            command=shlex.join(["exo-vision", "train", *sys.argv[2:]]),
            stage=stage,
        )
    except ValueError as err:
        logger.error("%s", err)
        return 2
    except (KeyboardInterrupt, FineTuneCancelled):
        logger.error("interrupted: no model written")
        return 130
    finally:
        if bar is not None:
            bar.close()
    if result.selection is not None:
        best = next(s for s in result.selection["scores"] if s["step"] == result.selection["chosen_step"])
        sys.stdout.write(
            f"kept the checkpoint of step {best['step']} (F1 {best['f1']:.3f} on "
            f"{', '.join(result.selection['micrographs'])}, held out of training to choose it)\n"
        )
    int8_figures, int8_path = None, None
    if args.int8:
        try:
            stop.raise_if_requested()
            int8_path, int8_figures = write_int8_copy(result, threads=args.threads, should_stop=stop)
            stop.raise_if_requested()
        except ValueError as err:
            logger.error("%s", err)
            return 2
        except KeyboardInterrupt:
            copy = int8_copy_path(result.onnx_path)  # refused above if it existed: anything there is this run's
            for leftover in (copy, copy.with_suffix(".json")):
                leftover.unlink(missing_ok=True)
            logger.error("interrupted: %s is written, its int8 copy is not", display_path(result.onnx_path))
            return 130
    sys.stdout.write(
        f"validation on {len(validation)} micrograph(s) never used for training"
        f"{' (by this run or the model it started from)' if earlier else ''}:\n"
        f"{format_figures(result.before, result.after, int8_figures)}\n"
        f"{PARTIAL_FIGURES_NOTE + chr(10) if settings.partial_outlines else ''}"
        f"{verdict_text(result.before, result.after, partial=settings.partial_outlines)}\n"
        + (f"{result.time_limit_note}\n" if result.time_limit_note else "")
        + f"training took {result.seconds / 60:.1f} min ({result.steps_done} steps), the whole run "
        f"{(time.perf_counter() - started) / 60:.1f} min; wrote {display_path(result.onnx_path)} and "
        f"{display_path(result.card_path)}\n"
    )
    if int8_path is not None:
        sys.stdout.write(f"wrote the int8 copy {display_path(int8_path)} (card beside it)\n")
    return 0


def int8_copy_path(model: Path) -> Path:
    """Where ``--int8`` writes the copy of ``model``: ``<stem>_int8.onnx`` beside it."""
    return model.with_name(model.stem + "_int8.onnx")


def write_int8_copy(
    result: Any, *, threads: int, should_stop: Callable[[], bool] = lambda: False
) -> tuple[Path, dict[str, Any]]:
    """Write ``<model>_int8.onnx`` of a fine-tuning result, calibrated on its training micrographs.

    The copy is scored on the result's validation micrographs and the figures are
    stored in its card (``validation.curated_validation.int8``). ``should_stop`` is
    polled before each of those segmentations; True raises :class:`KeyboardInterrupt`
    (the caller removes the copy).
    """
    from exo_vision._shared.atomic import atomic_write_bytes
    from exo_vision.learn.finetune import evaluate_model
    from exo_vision.learn.quantise import quantise_model

    written = quantise_model(result.onnx_path, int8_copy_path(result.onnx_path), micrographs=result.train)

    def each(_done: int, _total: int) -> None:
        if should_stop():
            raise KeyboardInterrupt

    figures, _ = evaluate_model(written, result.validation, threads=threads, each=each)
    card_path = written.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["validation"] = {
        "curated_validation": {
            "method": "exo_vision.segmentation.api.segment_vesicles (unet), one-to-one matching at IoU >= 0.5; "
            "micrographs never used for training or calibration",
            "micrographs": [m.name for m in result.validation],
            "int8": figures,
        }
    }
    atomic_write_bytes(card_path, (json.dumps(card, indent=1) + "\n").encode("utf-8"))
    return written, figures


def _bar(total: int) -> Any:
    """A tqdm bar of training steps on stderr (plain when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="step",
        desc="fine-tuning",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=None if sys.stderr.isatty() else False,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
