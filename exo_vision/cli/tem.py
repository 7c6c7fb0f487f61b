"""`exo-vision tem`: segment and measure every vesicle in many TEM micrographs."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from exo_vision._shared.interrupt import caused_by_interrupt, terminated_as_interrupted
from exo_vision._shared.paths import display_path
from exo_vision.batch.config import build_config, check_recorded_code, check_recorded_model, read_config
from exo_vision.segmentation.api import DEFAULT_METHOD, METHODS, available_methods
from exo_vision.segmentation.learned.weights import absolute_model

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Segment every extracellular vesicle in negative-stain TEM micrographs, measure
diameters in nm and morphology (round / cup / irregular), and report size
statistics.

Per input image (stem S) the output folder receives:
  S_labels.tif     instance labels (uint16/uint32, calibrated in nm)
  S_vesicles.csv   one row per vesicle
  S_overlay.png    outlines coloured by morphology (teal: cut by the edge or by
                   pixels without a value, not counted), ids, scale bar; small
                   images drawn enlarged (about a byte per pixel; --no-overlay
                   leaves it out)
  S_done.json      completion marker (input checksum, parameters, output checksums)
  S_rois.zip       with --save-rois: the vesicles as an ImageJ/Fiji ROI set
and for the run: vesicles.csv (all images, `image` column), summary.csv
(statistics per image and pooled; pixel_size_nm and pixel_size_source:
each image's calibration; n_split_groups; n_warnings and warnings: each
image's warnings, for a spreadsheet filter; duplicate_of), size_histogram.png (300 dpi) and .svg,
run.json (version, parameters, checksums, calibration sources, timings) and
errors.csv (one row per failed input). Copies of one micrograph (same
bytes; same pixels and pixel size; or the same pixels at another bit depth or
value scale, e.g. a 16-bit file and its 8-bit export) keep their own files and
summary rows but are pooled once; run.json names them (duplicate_images) and
each copy's record says why (duplicate_of, duplicate_reason).

One bad input never stops the run; the exit status is 1 if any input failed.
Inputs are never modified and every output is written atomically.
"""

EPILOG = """\
examples:
  exo-vision tem grid1/ grid2/ --out results/
  exo-vision tem scans/ --recursive --pixel-size-nm 0.62 --out results/ --workers 2
  exo-vision tem scans/ --out results/ --resume          # finish an interrupted run
  exo-vision tem --config results/run.json --out rerun/   # reproduce a run (its inputs too)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `tem` subcommand."""
    p = subparsers.add_parser(
        "tem",
        help="segment and measure vesicles in TEM micrographs (batch)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image files and/or folders of images (none with --config run.json: that run's inputs)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--recursive", action="store_true", default=None, help="descend into sub-folders of INPUT folders")
    p.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        default=None,
        help="undo recursive = true of a --config",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of parameters, or a run.json from an earlier run (without INPUT: its inputs too, "
        "relative paths read from the recorded working directory or the run.json's folder); options given here win",
    )
    g = p.add_argument_group("calibration")
    g.add_argument(
        "--pixel-size-nm",
        type=float,
        metavar="NM",
        help="pixel size in nm for every input, overriding the file's own calibration (metadata or scale bar; "
        "a warning names each file whose own value differs)",
    )
    g.add_argument(
        "--pixel-size-nm-if-missing",
        type=float,
        metavar="NM",
        help="pixel size in nm for the inputs without a calibration of their own (no metadata, no readable "
        "scale bar); calibrated inputs keep theirs: for a folder that mixes both. Each input given it gets a "
        "warning (summary.csv: pixel_size_source 'user (--pixel-size-nm-if-missing)')",
    )
    g.add_argument("--frame", type=int, metavar="K", help="frame to analyse in multi-frame files (0-based)")
    g.add_argument(
        "--no-scale-bar",
        dest="scale_bar",
        action="store_false",
        default=None,
        help="do not calibrate from a burnt-in scale bar",
    )
    g.add_argument(
        "--scale-bar",
        dest="scale_bar",
        action="store_true",
        default=None,
        help="calibrate from a burnt-in scale bar (the default; undoes scale_bar = false of a --config)",
    )
    g.add_argument(
        "--max-megapixels",
        type=float,
        metavar="MP",
        help="refuse inputs that decode to more than MP million values (default 256), checked before decoding",
    )
    g = p.add_argument_group("segmentation")
    g.add_argument(
        "--method",
        choices=available_methods(),
        help=f"segmentation method (default {DEFAULT_METHOD}): "
        + "; ".join(f"{name}: {METHODS[name].description}" for name in available_methods()),
    )
    g.add_argument(
        "--model",
        metavar="PATH",
        help="for --method unet: a model file (.onnx with its .json card beside it) instead of the "
        "shipped one, e.g. one made by fine-tuning; or a shipped model's name: ev-unet (the default, an int8 "
        "network) or ev-unet-float (the float network it was made from)",
    )
    g.add_argument("--min-diameter-nm", type=float, metavar="NM", help="smallest vesicle diameter (default 20)")
    g.add_argument("--max-diameter-nm", type=float, metavar="NM", help="largest vesicle diameter (default 500)")
    g.add_argument("--sensitivity", type=float, metavar="S", help="detection sensitivity in [0, 1] (default 0.5)")
    g.add_argument(
        "--polarity",
        choices=("auto", "bright", "dark"),
        help="vesicles lighter (bright) or darker (dark) than the stain (default auto)",
    )
    g.add_argument(
        "--save-rois",
        action="store_true",
        default=None,
        help="also write each image's vesicles as an ImageJ/Fiji ROI set S_rois.zip (ROI names = the "
        "vesicle ids of S_vesicles.csv)",
    )
    g.add_argument(
        "--no-save-rois",
        dest="save_rois",
        action="store_false",
        default=None,
        help="write no ROI sets (the default; undoes save_rois = true of a --config)",
    )
    g.add_argument(
        "--no-overlay",
        dest="overlay",
        action="store_false",
        default=None,
        help="write no overlay PNGs (about 1 MB per megapixel: for a nearly full or slow disk); recorded in "
        "run.json; --resume takes a result as complete with or without its overlay",
    )
    g.add_argument(
        "--overlay",
        dest="overlay",
        action="store_true",
        default=None,
        help="write each image's overlay PNG (the default; undoes overlay = false of a --config)",
    )
    g = p.add_argument_group("statistics")
    g.add_argument(
        "--include-border",
        dest="exclude_border",
        action="store_false",
        default=None,
        help="count border-touching vesicles in the statistics (excluded by default)",
    )
    g.add_argument(
        "--exclude-border",
        dest="exclude_border",
        action="store_true",
        default=None,
        help="leave border-touching vesicles out of the statistics (the default; undoes --include-border or "
        "exclude_border = false of a --config)",
    )
    g.add_argument("--bin-width-nm", type=float, metavar="NM", help="bin width of size_histogram (default 10)")
    g.add_argument("--seed", type=int, help="seed of the bootstrap confidence intervals (default 0)")
    g = p.add_argument_group("execution")
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default: one per core, fewer when the memory available cannot hold the largest "
        "micrographs analysed at once, estimated from their size and pixel size)",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster at ADDRESS (tcp://host:8786), or 'local' for a LocalCluster",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="skip inputs whose outputs are complete from an earlier run with the same parameters",
    )
    p.set_defaults(func=run)


def _command_line_values(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "pixel_size_nm",
        "pixel_size_nm_if_missing",
        "frame",
        "scale_bar",
        "method",
        "model",
        "min_diameter_nm",
        "max_diameter_nm",
        "sensitivity",
        "polarity",
        "exclude_border",
        "bin_width_nm",
        "seed",
        "recursive",
        "workers",
        "scheduler",
        "max_megapixels",
        "save_rois",
        "overlay",
    )
    values = {k: getattr(args, k) for k in keys}
    if values["model"] is not None:  # recorded in run.json, which may be reused from another folder
        values["model"] = absolute_model(values["model"])
    return values


#: Seconds between plain progress lines when stderr is not a terminal (no bar there).
PLAIN_PROGRESS_INTERVAL_S = 30.0


def _progress_bar(total_hint: int = 0) -> Any:
    """A tqdm bar on stderr, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total_hint, unit="image", file=sys.stderr, dynamic_ncols=True)


def _logs_above_the_bar(bar: Any) -> Any:
    """Route log lines through tqdm while a bar is shown, so they do not break it."""
    if bar is None:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


class _Heartbeat:
    """Without a bar (a log file, a cluster job), a line every :data:`PLAIN_PROGRESS_INTERVAL_S` while no image
    finishes: a long micrograph on a slow machine otherwise looks like a hang. The line gives the time so far and,
    once an image has finished, the time left at the pace so far."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="exo-vision progress", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _beat(self) -> None:
        while not self._stop.wait(PLAIN_PROGRESS_INTERVAL_S / 3):
            state, now = self._state, time.monotonic()
            if now - state["at"] < PLAIN_PROGRESS_INTERVAL_S or not state["total"]:
                continue
            done, total, elapsed = state.get("latest", 0), state["total"], now - state["start"]
            left = f"; about {elapsed / done * (total - done):.0f} s left at this pace" if done else ""
            logger.info("%d of %d input(s) done, %.0f s so far, still analysing%s", done, total, elapsed, left)
            state["at"] = now


def _copies_note(groups: list[list[str]]) -> str:
    """The summary line's note on inputs that are copies of another (counted once in the pooled statistics)."""
    copies = sum(len(group) - 1 for group in groups)
    if not copies:
        return ""
    first = groups[0]
    return (
        f", {copies} cop{'y' if copies == 1 else 'ies'} of another input (the same micrograph) counted once in the "
        f"pooled statistics ({', '.join(display_path(n) for n in first[1:])} = {display_path(first[0])}"
        f"{'' if len(groups) == 1 else ', ...'}; run.json: duplicate_images)"
    )


def _interrupted() -> int:
    """Say that the run was stopped and how to finish it; the exit status of an interruption."""
    logger.error("interrupted: finished images are complete; rerun the same command with --resume to finish")
    return 130


class _CommandLineError(ValueError):
    """A recorded command line that the `tem` parser refuses."""


class _RaisingParser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _CommandLineError(message)


def _typed_inputs(command: Any) -> list[str]:
    """The INPUT words of a recorded ``exo-vision tem ...`` command line (empty when it has none or is not one)."""
    if not (isinstance(command, list) and len(command) > 2 and command[1] == "tem"):
        return []
    if not all(isinstance(word, str) for word in command):
        return []
    parser = _RaisingParser(prog="exo-vision", add_help=False)
    add_parser(parser.add_subparsers(dest="command"))
    try:
        known, _ = parser.parse_known_args(command[1:])
    except _CommandLineError:
        return []
    return list(known.inputs)


def _inputs_of_recorded_run(config: str | None) -> list[str]:
    """The inputs of the run a ``run.json`` records, as paths that lead to them from this working directory.

    The INPUT words of the recorded command line; when it has none (a run started from Python, or itself given
    only ``--config``), each analysed image's recorded input. A relative path is read from the recorded working
    directory, else from the run.json's folder.

    Raises
    ------
    ValueError
        When no run.json is given, it records no inputs, or a recorded input no longer exists.
    """
    if not config:
        raise ValueError(
            "no INPUT given: name the image files or folders to analyse, or give --config with a run.json "
            "to analyse that run's inputs again"
        )
    path = Path(config)
    if path.suffix.lower() != ".json":
        raise ValueError(
            f"no INPUT given: {display_path(path)} is a TOML config, which holds parameters only; name the image "
            "files or folders to analyse (a run.json given to --config supplies its run's inputs)"
        )
    doc = json.loads(path.read_bytes())  # read_config has checked that it parses
    recorded = _typed_inputs(doc.get("command"))
    if not recorded:
        recorded = [
            i["input"] for i in doc.get("images") or [] if isinstance(i, dict) and isinstance(i.get("input"), str)
        ]
    if not recorded:
        raise ValueError(
            f"no INPUT given and {display_path(path)} records no inputs; name the image files or folders to analyse"
        )
    workdir = doc.get("working_directory")
    bases = [Path(workdir)] if isinstance(workdir, str) and workdir else []
    bases.append(path.resolve().parent)
    found = []
    for word in recorded:
        candidates = [Path(word)] if Path(word).is_absolute() else [base / word for base in bases]
        hit = next((c for c in candidates if c.exists()), None)
        if hit is None:
            tried = " or ".join(display_path(c) for c in candidates)
            raise ValueError(
                f"input {word!r} recorded in {display_path(path)} no longer exists (looked for {tried}); give the "
                "inputs on the command line (exo-vision tem INPUT ... --config run.json --out DIR)"
            )
        found.append(str(hit))
    logger.info("inputs from %s: %s", display_path(path), ", ".join(display_path(f) for f in found))
    return found


def run(args: argparse.Namespace) -> int:
    """Run the batch; return 0 when every input succeeded, 1 otherwise, 2 on a usage error, 130 when stopped."""
    from exo_vision.batch.runner import run_tem_batch

    try:
        file_values = read_config(args.config) if args.config else {}
        if not args.inputs:
            args.inputs = _inputs_of_recorded_run(args.config)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    try:
        config = build_config(file_values, _command_line_values(args))
        if args.config and getattr(args, "model", None) is None:  # a model given on the command line is chosen
            check_recorded_model(args.config, config)
        if args.config:
            check_recorded_code(args.config)
    except ValueError as err:
        where = (
            f" (the values come from {display_path(args.config)} and the command line: fix them there)"
            if args.config
            else ""
        )
        logger.error("%s%s", err, where)
        return 2
    bar = _progress_bar()
    last_line: dict[str, Any] = {"at": time.monotonic(), "done": -1, "total": 0, "start": time.monotonic()}

    def progress(done: int, total: int) -> None:
        last_line.update(total=total, latest=done)
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()
            return
        # a log file, nohup or a cluster job: a plain line at the start, every half minute and at the end
        now = time.monotonic()
        due = last_line["done"] < 0 or now - last_line["at"] >= PLAIN_PROGRESS_INTERVAL_S or done == total
        if due and done != last_line["done"]:
            logger.info("%d of %d input(s) done", done, total)
            last_line.update(at=now, done=done)

    heartbeat = None if bar is not None else _Heartbeat(last_line)
    try:
        with _logs_above_the_bar(bar), terminated_as_interrupted(), heartbeat or contextlib.nullcontext():
            result = run_tem_batch(
                args.inputs,
                out_dir=args.out,
                config=config,
                resume=args.resume,
                progress=progress,
                argv=[display_path(a) for a in getattr(args, "command_line", None) or ["exo-vision", "tem"]],
            )
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as err:
        if caused_by_interrupt(err):  # a stop turned into an error of its own by a library (an import)
            return _interrupted()
        if not isinstance(err, ValueError):
            raise
        logger.error("%s", err)
        return 2
    finally:
        if bar is not None:
            with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP): the bar cannot be drawn once more
                bar.close()
    counts = {s: sum(r["status"] == s for r in result.records) for s in ("done", "skipped", "failed")}
    # The designated stdout output: one summary line a script can read.
    sys.stdout.write(
        f"{len(result.records)} input(s): {counts['done']} analysed, {counts['skipped']} already complete, "
        f"{counts['failed']} failed{_copies_note(result.duplicate_images)}; {result.wall_s:.1f} s; "
        f"outputs in {display_path(args.out)}\n"
    )
    if result.failed:
        logger.error(
            "%d input(s) failed; reasons in %s", len(result.failed), display_path(Path(args.out) / "errors.csv")
        )
    return 1 if result.failed else 0
