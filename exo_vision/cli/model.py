"""`exo-vision model`: a copy of a vesicle model with other post-processing settings."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from exo_vision._shared.paths import display_path
from exo_vision.segmentation.learned.coarse_outlines import limit_words

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Write a copy of the vesicle model (method unet) whose card turns on settings
that the shipped card leaves off. The weights are the same (same sha256); the
card's version says what changed (e.g. 1.0-int8.2+join_rounder), so run.json records it.
The figures of each setting on real and generated micrographs are in the
models' README (exo_vision/segmentation/learned/models/README.md).
"""

EPILOG = """\
examples:
  exo-vision model --join-cups --out models/ev_unet_cups.onnx
  exo-vision tem grid1/ --out results/grid1 --model models/ev_unet_cups.onnx
  exo-vision model --from models/our_lab.onnx --flips 4 --out models/our_lab_flips.onnx
  exo-vision model --subpixel-membrane --out models/ev_unet_coarse.onnx
  exo-vision model --invert-dark --out models/ev_unet_dark.onnx
  exo-vision model --grid-shifts 2 --out models/ev_unet_shifts.onnx
"""


def _add_switch(parser: argparse.ArgumentParser, flag: str, *, dest: str, help: str) -> None:
    """``flag`` turns the card setting ``dest`` on and ``--no-`` + its name turns it off; neither leaves it as it is."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(flag, dest=dest, action="store_true", default=None, help=help)
    group.add_argument("--no-" + flag.removeprefix("--"), dest=dest, action="store_false", help="turn that off")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `model` subcommand."""
    p = subparsers.add_parser(
        "model",
        help="copy the vesicle model with other post-processing settings",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="MODEL.onnx",
        help="the new model (its card MODEL.json beside it; a copy of an int8 model such as the shipped default "
        "also gets MODEL_float.onnx, the float network its card names, which fine-tuning starts from: keep the "
        "files together)",
    )
    p.add_argument("--from", dest="base", metavar="MODEL", help="model to copy (default: the shipped ev-unet)")
    _add_switch(
        p,
        "--join-cups",
        dest="join_rounder",
        help="join touching pieces whose union is rounder than each and convex, so a cup the network cuts along "
        "its fold is one vesicle (helps grids of cups; on crowded fields it also joins overlapping vesicles)",
    )
    _add_switch(
        p,
        "--subpixel-membrane",
        dest="subpixel_membrane",
        help=f"on micrographs coarser than {limit_words()}, add the outer half membrane as a sub-pixel move of the "
        "outline (on generated scenes at 2.5-5 nm/px, vesicles under 50 nm come out 12-14 %% small -> 5-6 %% when "
        "rendered at 1 nm/px and downscaled, 12-19 %% -> 5-11 %% when rendered at the coarse pixel size; the real "
        "FRU-Net patches at 3.83 nm/px showed no such bias with the default, so this is no correction factor; "
        "finer micrographs are outlined as before)",
    )
    _add_switch(
        p,
        "--invert-dark",
        dest="invert_dark",
        help="segment micrographs whose vesicles are darker than the stain with their grey levels reversed (one "
        "more network pass on such micrographs): the FRU-Net micrographs stored inverted then score as they do as "
        "read; on generated micrographs it changes little",
    )
    p.add_argument(
        "--flips",
        type=int,
        metavar="N",
        help="average the network over N = 1, 2 or 4 input flips (4 flips: about 1.9 times the default's time per "
        "micrograph end to end; figures in the models' README)",
    )
    p.add_argument(
        "--grid-shifts",
        dest="grid_shifts",
        type=int,
        metavar="N",
        help="average the fine network pass over N = 1, 2 or 4 offsets of its input by half the network's pooling "
        "period, so a crop of a pixel or two moves the outlines less (one more fine pass per offset; figures in "
        "the models' README)",
    )
    p.add_argument(
        "--normalise-window",
        dest="normalise_window_px",
        type=int,
        metavar="PX",
        help="read the grey-level percentiles in windows of PX network pixels (192: the training patch; 0: the "
        "whole image), for fields with a strong illumination gradient",
    )
    p.add_argument(
        "--second-scale",
        dest="second_scale_factor",
        type=float,
        metavar="F",
        help="average the fine pass with a second pass at F x the working scale (0.8: 2.4 nm/px; 0: off): splits "
        "crowded generated fields better, loses on the real micrographs measured (figures in the models' README)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the variant; 0 on success, 2 on a usage error."""
    from exo_vision.segmentation.learned.variants import VARIANT_SETTINGS, write_model_variant
    from exo_vision.segmentation.learned.weights import check_model_destination, load_card

    changes = {k: getattr(args, k) for k in VARIANT_SETTINGS if getattr(args, k) is not None}
    try:
        path = write_model_variant(check_model_destination(args.out), base=args.base, **changes)
        card = load_card(path)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    changed = ", ".join(
        f"{k} {json.dumps(before)} -> {json.dumps(after)}"
        for k, (before, after) in card.card["variant"]["changed"].items()
    )
    float_file = card.card.get("float_file")
    written = (
        f"wrote {display_path(path)}, {display_path(path.with_suffix('.json'))} and "
        f"{display_path(path.with_name(float_file))} (the float network the card names, which fine-tuning starts "
        "from; keep the three files together)"
        if isinstance(float_file, str) and float_file != path.name
        else f"wrote {display_path(path)} and {display_path(path.with_suffix('.json'))}"
    )
    sys.stdout.write(
        f"{written}: {card.name} {card.version} ({changed}; weights unchanged)\n"
        f"use it with: exo-vision tem ... --model {display_path(path)}\n"
    )
    return 0
