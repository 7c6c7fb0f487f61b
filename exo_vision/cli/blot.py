"""`exo-vision blot`: quantify western blots and the MISEV marker panel."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exo_vision import __version__
from exo_vision._shared.atomic import remove_stale_temp_files, sha256_file
from exo_vision._shared.failures import describe_failure
from exo_vision._shared.paths import (
    assign_stems,
    check_output_plan,
    display_path,
    hidden_files_note,
    is_hidden,
    is_previous_output,
    prepare_output_folder,
    printable,
)
from exo_vision._shared.run_lock import output_lock
from exo_vision._shared.schema import check_table
from exo_vision._shared.toml_files import parse_problem, parse_toml
from exo_vision.blot.constants import NOT_EV_WORDS, PANEL_FILES
from exo_vision.blot.parameters import BACKGROUND_METHODS as BACKGROUND_CHOICES
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, KEEP_SPOTS, MAX_ROLLING_BALL_RADIUS_PX, BlotParameters
from exo_vision.environment import lock_status, machine_description, software_versions
from exo_vision.io.image_data import COLOUR_CHANNELS

# Heavy modules (numpy, scipy, pandas, OpenCV, matplotlib) are imported inside the functions that use them, so
# that `exo-vision blot --help` stays instant: what the parser needs (the parameter model, the panel file names,
# the colour channels) imports only the standard library (tests/cli/test_cli_startup.py).
BACKGROUND_METHODS = BACKGROUND_CHOICES
DEFAULT_BACKGROUND = DEFAULT_BLOT_PARAMETERS.background
CENTRAL_FRACTION = DEFAULT_BLOT_PARAMETERS.central_fraction

logger = logging.getLogger(__name__)

#: File suffixes picked up from INPUT folders: every raster the reader reads, TIFF and Bio-Rad's .scn. The
#: electron-microscope formats it reads too are left out and named (they hold micrographs, not blots).
IMAGE_SUFFIXES = (".tif", ".tiff", ".scn", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: Files named in the note on those a folder scan left out.
LEFT_OUT_NAMED = 5
#: The advice of a warning of turned bands (:func:`exo_vision.blot.band_tilt.turned_bands_warnings`).
ROTATE_ADVICE = re.compile(r"--rotate (-?\d+(?:\.\d+)?) on the command line")
#: Largest turn (degrees, either way) --rotate takes: a blot turned further lies on its side.
MAX_ROTATE_DEG = 45.0

DESCRIPTION = """\
Quantify western blots: find membrane strips, lanes (automatic, or --lanes N)
and bands, subtract background, measure each band's volume, flag saturated
bands, estimate the limit of detection from blank boxes of the same strip and
call each band present/absent. With marker names, lane names and a reference
(lysate) lane it reports EV/lysate enrichment and the MISEV panel verdict
(CD9+, CD63+, calnexin-).

Per input image (stem S) the output folder receives:
  S_bands.csv      one row per band and lane (volume, background, SNR, LoD, present, saturated ...)
  S_annotated.png  lanes and numbered band boxes (numbers = `label` in the CSV), saturated bands vermillion with a "*"
and, when markers, lane names and a reference lane are known:
  panel.csv        per marker and lane: ratio to the reference lane, present, upper bound, verdict
  panel_summary.csv  per marker: replicate mean, SD, CV, geometric mean and its 95 % CI, verdict and reason
  panel.png/.svg   bar chart with replicate points
and always errors.csv (one row per image that failed) and run.json (version,
parameters, inputs, warnings, errors).

Bands are detected and tested on the central part of each lane (--central-fraction)
and their volumes integrated over each band's own width after background subtraction;
present means a band peak whose volume > LoD = mean blank + 3.3 SD blank.
8-bit exports are processed but flagged unsuitable for quantification.
One bad input never stops the others; the exit status is 1 if any failed.
"""

EPILOG = """\
panel file (TOML), image paths relative to the file:
  lane_names = ["lysate", "exo1", "exo2"]
  reference_lane = "lysate"
  ug_loaded = [20.0, 10.0, 10.0]
  ev_lanes = ["exo1", "exo2"]   # optional: the EV replicates (default: by their names)
  [[marker]]
  name = "CD9"
  image = "blot_panel.tif"
  strip = 1            # optional: strip of a multi-strip image, top = 1
  [[marker]]
  name = "calnexin"
  image = "calnexin.tif"

examples:
  exo-vision blot blots/ --out results/
  exo-vision blot cd9.tif --lanes 3 --lane-names lysate,exo1,exo2 --marker CD9 --out results/
  exo-vision blot --panel sample_images/blot_panel.toml --out results/
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `blot` subcommand."""
    p = subparsers.add_parser(
        "blot",
        help="quantify western blots (lanes, bands, saturation, LoD, EV/lysate enrichment, MISEV verdict)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="blot images and/or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument(
        "--panel",
        metavar="FILE.toml",
        help="marker panel description (see below); it names the images, markers, lane names, reference lane and "
        "µg loaded, so give none of them beside it",
    )
    g = p.add_argument_group("lanes and markers")
    g.add_argument(
        "--lanes",
        type=int,
        metavar="N",
        help="lanes per strip; membranes stacked one above the other share one set of N lanes, numbered alike "
        "(default: found automatically)",
    )
    g.add_argument(
        "--lane-ranges",
        metavar="X0-X1,...",
        help="the lanes' columns, left to right: first column and one past the last of each lane, in pixels of "
        "the image as it is in the file (e.g. 100-180,210-290), used in every strip; the image is then not "
        "straightened. Instead of finding the lanes (give --lanes too only with the same count)",
    )
    g.add_argument(
        "--gel",
        action="store_true",
        help="the images are gels with wells: find the gel, its well rows and combs, take the lanes from the wells "
        "and report bands only inside the gel, below its wells",
    )
    g.add_argument("--lane-names", metavar="A,B,...", help="lane names left to right, e.g. lysate,exo1,exo2")
    g.add_argument(
        "--reference-lane",
        metavar="NAME",
        help="lysate lane for ratios (default: the lane named 'lysate' in any case, or the one lane whose name "
        "contains it; with markers and no such lane, this option is required)",
    )
    g.add_argument(
        "--ug-loaded",
        metavar="X,Y,...",
        help="µg protein loaded per lane, same order as --lane-names (0 for a lane not pooled: blank, PBS)",
    )
    g.add_argument(
        "--ev-lanes",
        metavar="NAME[,NAME...]",
        help="the EV lanes pooled as replicates in the panel statistics and verdict (default: every lane but the "
        "reference and the ladder, except lanes with a word of their name starting with "
        + "/".join(NOT_EV_WORDS)
        + " and none saying EV/EVs/sEV/exo.../vesicle..., as in 'mock EVs'); the panel names the lanes it pooled and "
        "those it left out",
    )
    g.add_argument(
        "--marker",
        metavar="NAME[,NAME...]",
        help="marker probed (one name, or one per strip in reading order: top to bottom, then left to right), "
        "e.g. CD9 or CD9,CD63,calnexin",
    )
    g.add_argument(
        "--ladder-lane",
        type=int,
        metavar="K",
        help="lane number (1-based) holding a molecular-weight ladder: no sample, so no marker is called there "
        "(default: the lane whose --lane-names entry contains 'ladder'); with --ladder-kda each strip's "
        "marker is integrated over its kDa window (CD9 20-28, CD63 30-65, calnexin 80-100)",
    )
    g.add_argument("--ladder-kda", metavar="A,B,...", help="ladder sizes in kDa, heaviest (top) first")
    g = p.add_argument_group("measurement")
    g.add_argument(
        "--background",
        choices=BACKGROUND_METHODS,
        default=DEFAULT_BACKGROUND,
        help=f"background method (default {DEFAULT_BACKGROUND}: straight line between the lane "
        "profile just above and below each band, bent as the background in the strips beside the lane bends "
        "(a blotchy membrane; the side that bends it least, and only where that bend is under a quarter of the "
        "band's net signal); keeps broad CD63 smears whole; 'border': the median of those rows; 'none': raw sums)",
    )
    g.add_argument(
        "--rolling-ball-radius-px",
        type=float,
        default=DEFAULT_BLOT_PARAMETERS.rolling_ball_radius_px,
        metavar="PX",
        help="ball radius for --background rolling_ball / rolling_disk (default "
        f"{DEFAULT_BLOT_PARAMETERS.rolling_ball_radius_px:g})",
    )
    g.add_argument(
        "--central-fraction",
        type=float,
        default=CENTRAL_FRACTION,
        metavar="F",
        help=f"central fraction of each lane's width on which bands are detected and tested against the LoD; a "
        f"band's volume and box span the band's own width (default {CENTRAL_FRACTION})",
    )
    g.add_argument(
        "--min-relative-band",
        type=float,
        default=DEFAULT_BLOT_PARAMETERS.min_relative_prominence,
        metavar="F",
        help="a band row is reported only when its strongest band reaches this fraction of the strip's strongest "
        "band's height (default "
        f"{DEFAULT_BLOT_PARAMETERS.min_relative_prominence:g}; faint rows that recur across the lanes are kept "
        "below it); lower it (e.g. 0.005) for a faint marker on a membrane with a saturated one",
    )
    g.add_argument(
        "--keep-writing",
        action="store_true",
        help="do not remove pen writing (written masses or lane numbers in ink as bright as a band, and the dashes "
        "beside them) before finding lanes and bands; use it if a warning says writing was removed where bands lie",
    )
    g.add_argument(
        "--keep-spots",
        action="store_true",
        help="report peaks that clear their limit of detection but sit in less than a quarter of their lane's width "
        "(dust, specks, smudges) as bands too; by default they are left out with a warning naming them (a marker "
        "asked for with --marker is measured whatever its shape)",
    )
    g.add_argument(
        "--no-straighten",
        action="store_true",
        help="analyse the image as it is even when its membranes lie turned by 2 degrees or more in the frame "
        "(by default such an image is straightened first, and a warning gives the angle)",
    )
    g.add_argument(
        "--rotate",
        type=float,
        default=None,
        metavar="DEG",
        help="straighten the image by turning it back DEG degrees (counter-clockwise on screen, as the warning of a "
        "blot whose bands lie turned gives it) instead of looking for membrane edges; for a membrane that fills "
        "the frame, whose turn no edge shows",
    )
    g.add_argument(
        "--frame",
        type=int,
        default=None,
        metavar="K",
        help="which image of a stack to quantify (0-based; e.g. one channel of a two-channel fluorescence TIFF)",
    )
    g.add_argument(
        "--channel",
        choices=COLOUR_CHANNELS,
        default=None,
        help="read one channel of a colour image as it is: one target of a two-colour fluorescence export (e.g. "
        "700 nm in red, 800 nm in green); by default colours are converted to gray by luminance, with a warning",
    )
    g.add_argument(
        "--max-megapixels",
        type=float,
        default=None,
        metavar="MP",
        help="refuse images that decode to more than MP million values (default 256), checked before decoding",
    )
    g.add_argument(
        "--polarity",
        choices=("auto", "bright", "dark"),
        default="auto",
        help="bands brighter (raw) or darker (inverted export) than background (default: from the reader)",
    )
    p.set_defaults(func=run)


#: Keys of a panel file and their types (:mod:`exo_vision._shared.schema`).
PANEL_KEYS = {
    "lane_names": "str_list",
    "reference_lane": "str",
    "ug_loaded": "number_list",
    "ev_lanes": "str_list",
    "marker": "table_list",
}
#: Keys of one ``[[marker]]`` table.
MARKER_KEYS = {"name": "str", "image": "str", "strip": "int"}
#: Output names per input stem S.
PER_IMAGE_SUFFIXES = ("_bands.csv", "_annotated.png")
#: Run-level outputs.
RUN_FILES = (*PANEL_FILES, "errors.csv", "run.json")
#: Earlier outputs never taken as inputs: ``S_annotated.png`` beside ``S_bands.csv``, the panel chart beside
#: its table.
PREVIOUS_OUTPUTS = {"_annotated.png": "_bands.csv", "panel.png": "panel_summary.csv"}


@dataclass
class PanelSpec:
    """A parsed panel file."""

    lane_names: list[str]
    reference_lane: str | None
    ug_loaded: dict[str, float] | None
    markers: list[dict[str, Any]] = field(default_factory=list)
    ev_lanes: list[str] | None = None


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise ValueError(f"empty item in comma-separated list {text!r}")
    return items


#: One lane's columns on the command line: first column, a dash, one past the last column (pixels, >= 0).
LANE_RANGE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*$")


def lane_ranges_px(text: str | None) -> list[tuple[float, float]] | None:
    """The lanes' columns of ``--lane-ranges`` ("100-180,210-290"), left to right; None when not given.

    Raises
    ------
    ValueError
        When an item is not ``X0-X1`` with X0 < X1, or the lanes are not left to right without overlap.
    """
    if text is None:
        return None
    ranges = []
    for item in _split(text) or []:
        match = LANE_RANGE_PATTERN.match(item)
        if match is None or not float(match[1]) < float(match[2]):
            raise ValueError(
                f"--lane-ranges: {item!r} is not a lane's columns; give X0-X1 per lane, the first column and one "
                "past the last in pixels with X0 < X1, separated by commas (e.g. 100-180,210-290)"
            )
        ranges.append((float(match[1]), float(match[2])))
    for (_, right), (left, _) in zip(ranges, ranges[1:]):
        if left < right:
            raise ValueError(
                f"--lane-ranges: the lanes must be given left to right without overlap, but one ends at column "
                f"{right:g} and the next starts at {left:g}"
            )
    return ranges


def _recorded_ranges(text: str | None) -> list[list[float]] | None:
    """``--lane-ranges`` as run.json records it: one [first, one past last] column pair per lane."""
    ranges = lane_ranges_px(text)
    return None if ranges is None else [list(r) for r in ranges]


def _check_lane_ranges(
    ranges: list[tuple[float, float]] | None, n_lanes: int | None, lane_names: list[str] | None, *, gel: bool
) -> None:
    """Refuse lane ranges beside a different lane count, another number of lane names, or --gel."""
    if ranges is None:
        return
    if gel:
        raise ValueError("--lane-ranges gives the lanes, --gel takes them from the gel's wells: use one of the two")
    if n_lanes is not None and n_lanes != len(ranges):
        raise ValueError(f"--lanes {n_lanes} but --lane-ranges gives {len(ranges)} lanes; leave out --lanes")
    if lane_names is not None and len(lane_names) != len(ranges):
        raise ValueError(
            f"{len(lane_names)} lane names ({', '.join(lane_names)}) for the {len(ranges)} lanes of --lane-ranges; "
            "give one name per lane, left to right"
        )


def _check_rotate(turn: float | None, args: argparse.Namespace, ranges) -> None:
    """Refuse a ``--rotate`` angle that is not a finite angle under 45 degrees or that another option contradicts."""
    if turn is None:
        return
    if not math.isfinite(turn) or abs(turn) >= MAX_ROTATE_DEG:
        raise ValueError(
            f"--rotate {turn}: give the turn of the blot in degrees, under {MAX_ROTATE_DEG:.0f} either way "
            "(a blot lying on its side is turned by 90 degrees: turn the file in an image viewer first)"
        )
    if getattr(args, "no_straighten", False):
        raise ValueError("--rotate straightens the image and --no-straighten keeps it as it is: use one of the two")
    if ranges is not None:
        raise ValueError(
            "--lane-ranges gives columns of the file as it is, --rotate turns it first: find the lane columns on "
            "the turned image (the annotated PNG of a run with --rotate), or leave out --rotate"
        )


def read_panel_file(path: str | Path) -> PanelSpec:
    """Parse a panel TOML file (format in ``exo-vision blot --help``).

    Parameters
    ----------
    path : str or Path
        The TOML file; image paths inside are relative to it.

    Returns
    -------
    PanelSpec
    """
    path = Path(path)
    shown = display_path(path)
    try:
        data = parse_toml(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"{shown}: panel file not found; check the path") from None
    except OSError as err:
        raise ValueError(
            f"{shown}: cannot read the panel file ({err.strerror or err}); check its permissions"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(
            f"{shown}: not a valid TOML panel file ({parse_problem(err)}); see `exo-vision blot --help`"
        ) from None
    check_table(data, PANEL_KEYS, where=shown)
    for i, entry in enumerate(data.get("marker") or [], start=1):
        check_table(entry, MARKER_KEYS, where=f"{shown}: [[marker]] number {i}")
    names = data.get("lane_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f'{shown}: `lane_names` must be a list of lane names, e.g. ["lysate", "exo1", "exo2"]')
    from exo_vision.blot.panel import default_reference_lane

    ref = data.get("reference_lane") or default_reference_lane(names)
    if ref is None:
        raise ValueError(
            f"{shown}: no lane is named 'lysate', so the reference lane for the EV/lysate ratios is unknown; "
            f'add reference_lane = "<name of the lysate lane>"'
        )
    if ref not in names:
        raise ValueError(f"{shown}: reference_lane {ref!r} is not one of lane_names {names}")
    ug = data.get("ug_loaded")
    ug_map = None
    if ug is not None:
        if (
            not isinstance(ug, list)
            or len(ug) != len(names)
            or not all(isinstance(v, (int, float)) and v >= 0 for v in ug)
        ):
            raise ValueError(
                f"{shown}: `ug_loaded` must list one amount (µg, at least 0) per lane name ({len(names)}); 0 is "
                "accepted for a lane that is not pooled (a blank or PBS lane)"
            )
        ug_map = {n: float(v) for n, v in zip(names, ug)}
    markers = data.get("marker")
    if not isinstance(markers, list) or not markers:
        raise ValueError(f"{shown}: give at least one [[marker]] table with `name` and `image`")
    out = []
    for i, m in enumerate(markers, start=1):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("image"), str):
            raise ValueError(f"{shown}: [[marker]] number {i} needs `name` and `image` strings")
        strip = m.get("strip")
        if strip is not None and (not isinstance(strip, int) or strip < 1):
            raise ValueError(f"{shown}: [[marker]] {m['name']!r}: `strip` must be a positive integer (top strip = 1)")
        out.append({"name": m["name"], "image": (path.parent / m["image"]).resolve(), "strip": strip})
    ev_lanes = data.get("ev_lanes")
    if ev_lanes is not None:
        try:
            _check_ev_lanes(list(ev_lanes), names, ref)
        except ValueError as err:
            raise ValueError(f"{shown}: {err}") from None
    return PanelSpec(list(names), ref, ug_map, out, None if ev_lanes is None else list(ev_lanes))


def _collect_inputs(items: list[str]) -> list[Path]:
    """Files given, and the image files of the folders given (not earlier outputs)."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        shown = display_path(p)
        try:
            if p.is_dir():
                images = sorted(
                    q
                    for q in p.iterdir()
                    if (q.is_file() or (q.is_symlink() and not q.exists()))  # a dangling link is reported
                    and q.suffix.lower() in IMAGE_SUFFIXES
                    and not is_previous_output(q, PREVIOUS_OUTPUTS)
                )
                found = [q for q in images if not is_hidden(q)]
                if (note := hidden_files_note(p, [q for q in images if is_hidden(q)])) is not None:
                    logger.info(note)
                _note_micrographs(p)
                if not found:
                    logger.warning("%s: no images (%s) in this folder", shown, ", ".join(IMAGE_SUFFIXES))
                paths.extend(found)
            elif p.is_symlink() and not p.exists():
                raise ValueError(
                    f"input {shown} is a symbolic link that leads nowhere (a loop or a missing target); "
                    "pass the file or folder it should point to"
                )
            else:
                paths.append(p)
        except OSError as err:
            raise ValueError(
                f"cannot list input {shown}: {err.strerror or err}; check the path and your permission to read it"
            ) from None
    return paths


def _note_micrographs(folder: Path) -> None:
    """Name the files of ``folder`` in electron-microscope formats (read by exo-vision tem), which a blot folder
    scan leaves out."""
    from exo_vision.io.read import READABLE_SUFFIXES

    left_out = sorted(
        q
        for q in folder.iterdir()
        if q.suffix.lower() in READABLE_SUFFIXES.difference(IMAGE_SUFFIXES) and q.is_file() and not is_hidden(q)
    )
    if left_out:
        names = ", ".join(display_path(q.name) for q in left_out[:LEFT_OUT_NAMED])
        logger.info(
            "%s: %d electron-microscope file(s) left out: %s%s; they are no blots, analyse them with exo-vision tem",
            display_path(folder),
            len(left_out),
            names,
            ", ..." if len(left_out) > LEFT_OUT_NAMED else "",
        )


def _read(path: Path, max_megapixels: float | None = None, frame: int | None = None, channel: str | None = None):
    from exo_vision.io.read import read_image

    return read_image(path, kind="blot", max_megapixels=max_megapixels, frame=frame, channel=channel)


def _csv_text(table) -> str:
    from exo_vision._shared.csv_tables import csv_text

    return csv_text(printable_table(table))


def printable_table(table):
    """A copy of ``table`` whose text cells are valid Unicode (file names may hold undecodable bytes)."""
    table = table.copy()
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = [display_path(v) if isinstance(v, str) else v for v in table[column]]
    return table


def _write_csv(path: Path, table) -> None:
    from exo_vision._shared.atomic import atomic_write_text

    atomic_write_text(path, _csv_text(table))


def _png_writer(tmp: Path, rgb) -> None:
    import cv2

    if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {display_path(tmp)}")


def blot_parameters(args: argparse.Namespace) -> BlotParameters:
    """The method settings given on the command line (the rest at their defaults)."""
    return BlotParameters(
        background=args.background,
        rolling_ball_radius_px=args.rolling_ball_radius_px,
        central_fraction=args.central_fraction,
        min_relative_prominence=args.min_relative_band,
        remove_writing=not args.keep_writing,
        band_lane_wide_fraction=KEEP_SPOTS if args.keep_spots else DEFAULT_BLOT_PARAMETERS.band_lane_wide_fraction,
    )


def _turn_still_seen(warning: str, given_deg: float) -> str:
    """A warning of bands still lying turned after ``--rotate``: its advice made the total turn to give."""
    found = ROTATE_ADVICE.search(warning)
    if found is None:
        return warning
    seen = float(found.group(1))
    total = given_deg + seen
    return warning.replace(
        found.group(0),
        f"--rotate {total:.1f} on the command line: the {given_deg:+.1f} given and the {seen:+.1f} still seen",
    )


def _straightened(data, args, ranges, *, polarity: str, max_value) -> tuple[Any, float | None]:
    """The image to measure and the rotation undone: ``--rotate``'s, or the membranes' (unless told not to)."""
    from exo_vision.blot.straighten import straighten_if_turned, straightened

    turn = getattr(args, "rotate", None)
    if turn is not None:
        return (straightened(data, turn, polarity=polarity), turn) if turn else (data, None)
    if getattr(args, "no_straighten", False) or ranges is not None:  # the columns are the file's
        return data, None
    return straighten_if_turned(data, polarity=polarity, max_value=max_value)


def quantify_file(path: Path, *, out_dir: Path, markers, lane_names, args, stem: str | None = None):
    """Read, quantify and write the per-image outputs of one blot; return its band table, its warnings, what a
    panel must add to results measured on it (:attr:`~exo_vision.blot.quantify.BlotResult.panel_caveat`) and the
    markers named for a strip that got no band row (:func:`~exo_vision.blot.quantify.unmeasured_markers`).

    Both outputs (``stem_bands.csv``, ``stem_annotated.png``) appear together or not at all.
    """
    from exo_vision.blot.gel import quantify_gel
    from exo_vision.blot.quantify import quantify_blot, unmeasured_markers
    from exo_vision.blot.saturation import export_warnings, without_repeats
    from exo_vision.blot.straighten import straightening_warning
    from exo_vision.figures.blot import annotated_blot
    from exo_vision.io.read import CLIPPED_PIXELS_ENDING

    img = _read(
        path, getattr(args, "max_megapixels", None), getattr(args, "frame", None), getattr(args, "channel", None)
    )
    polarity = img.polarity if args.polarity == "auto" else args.polarity
    # how the file was read (a colour export turned grey, a page chosen); the 8-bit warning once, in full
    read_warnings = without_repeats(img.warnings, export_warnings(img.data, polarity=polarity))
    # the clipped pixels wait for the quantification, which counts them again without masked drawing and dust
    held = [m for m in read_warnings if m.endswith(CLIPPED_PIXELS_ENDING)]
    for message in read_warnings:
        if message not in held:
            logger.warning("%s: %s", display_path(path.name), message)
    max_value = img.max_value if args.polarity == "auto" or args.polarity == img.polarity else None
    quantify = quantify_gel if getattr(args, "gel", False) else quantify_blot
    ranges = lane_ranges_px(getattr(args, "lane_ranges", None))
    data, rotation = _straightened(img.data, args, ranges, polarity=polarity, max_value=max_value)
    try:
        result = quantify(
            data,
            polarity=polarity,
            max_value=max_value,
            n_lanes=args.lanes,
            lane_x_ranges_px=ranges,
            lane_names=lane_names,
            markers=markers,
            ladder_lane=args.ladder_lane,
            ladder_kda=None if args.ladder_kda is None else [float(v) for v in args.ladder_kda.split(",")],
            image_name=path.name,
            params=blot_parameters(args),
        )
    except Exception:
        for message in held:
            logger.warning("%s: %s", display_path(path.name), message)
        raise
    read_warnings = without_repeats(read_warnings, result.warnings)
    for message in held:
        if message in read_warnings:
            logger.warning("%s: %s", display_path(path.name), message)
    from exo_vision._shared.atomic import file_group

    if rotation is not None:
        given = getattr(args, "rotate", None) is not None
        if given:
            result.warnings[:] = [_turn_still_seen(w, rotation) for w in result.warnings]
        result.warnings.insert(0, straightening_warning(rotation, given=given))
        logger.warning("%s: %s", display_path(path.name), result.warnings[0])
    stem = path.stem if stem is None else stem
    annotated = annotated_blot(data, result)
    with file_group() as group:
        group.stage_bytes(out_dir / f"{stem}_bands.csv", _csv_text(result.bands).encode("utf-8"))
        group.stage(out_dir / f"{stem}_annotated.png", lambda tmp: _png_writer(tmp, annotated))
    warnings = list(dict.fromkeys(read_warnings + result.warnings))
    logger.info("%s: %s", display_path(path.name), result.found_summary())
    return result.bands, warnings, result.panel_caveat, unmeasured_markers(result, path.name)


def _refuse_what_the_panel_names(args: argparse.Namespace) -> None:
    """Raise a ValueError when options that a panel file gives itself are also on the command line."""
    given = {
        "INPUT images": args.inputs,
        "--marker": args.marker,
        "--lane-names": args.lane_names,
        "--reference-lane": args.reference_lane,
        "--ug-loaded": args.ug_loaded,
        "--ev-lanes": getattr(args, "ev_lanes", None),
    }
    clashes = [name for name, value in given.items() if value]
    if clashes:
        raise ValueError(
            f"--panel {args.panel} names the images, markers, lane names, reference lane and µg loaded itself, so "
            f"{', '.join(clashes)} would be ignored: write them into the panel file, or leave out --panel"
        )


def run(args: argparse.Namespace) -> int:
    """Quantify every input; return 0 when all succeeded, 1 if any failed, 2 on a usage error."""
    from exo_vision.blot.ladder import named_ladder_lane
    from exo_vision.blot.panel import default_reference_lane

    out_dir = Path(args.out)
    try:
        lane_names = _split(args.lane_names)
        ug = _split(args.ug_loaded)
        ev_lanes = _split(getattr(args, "ev_lanes", None))
        lane_ranges = lane_ranges_px(getattr(args, "lane_ranges", None))
        _check_lane_ranges(lane_ranges, args.lanes, lane_names, gel=bool(getattr(args, "gel", False)))
        _check_rotate(getattr(args, "rotate", None), args, lane_ranges)
        cli_markers = _split(args.marker)
        panel = read_panel_file(args.panel) if args.panel else None
        if not args.inputs and panel is None:
            raise ValueError("give INPUT images/folders or --panel FILE.toml")
        if panel is not None:
            _refuse_what_the_panel_names(args)
        if args.ladder_kda is not None and args.ladder_lane is None and named_ladder_lane(lane_names) is None:
            raise ValueError(
                "--ladder-kda needs --ladder-lane K, the number of the lane that holds the ladder "
                "(or a lane named 'ladder' in --lane-names)"
            )
        if args.ladder_kda is not None:
            try:
                [float(v) for v in args.ladder_kda.split(",")]
            except ValueError:
                raise ValueError(f"--ladder-kda must be numbers separated by commas, got {args.ladder_kda!r}") from None
        if args.lanes is not None and args.lanes < 1:
            raise ValueError(f"--lanes must be a positive number of lanes, got {args.lanes}")
        if not 0 < args.central_fraction <= 1:
            raise ValueError(f"--central-fraction must be in (0, 1], got {args.central_fraction}")
        if not 0 < args.min_relative_band <= 1:
            raise ValueError(
                f"--min-relative-band must be a fraction in (0, 1], got {args.min_relative_band:g}: a band row is "
                "reported when its strongest band reaches this share of the strip's strongest band; for faint rows "
                "give a small fraction such as 0.001"
            )
        if args.max_megapixels is not None and not args.max_megapixels > 0:
            raise ValueError(f"--max-megapixels must be positive, got {args.max_megapixels:g}")
        if not 0 < args.rolling_ball_radius_px <= MAX_ROLLING_BALL_RADIUS_PX:
            raise ValueError(
                f"--rolling-ball-radius-px must be in (0, {MAX_ROLLING_BALL_RADIUS_PX:g}] pixels, got "
                f"{args.rolling_ball_radius_px:g}; a ball wider than the largest band is enough (default 50)"
            )
        ug_map = None
        if ug is not None:
            if lane_names is None or len(ug) != len(lane_names):
                raise ValueError("--ug-loaded needs --lane-names with the same number of items")
            try:
                ug_map = {n: float(v) for n, v in zip(lane_names, ug)}
            except ValueError:
                raise ValueError(f"--ug-loaded must be numbers separated by commas, got {args.ug_loaded!r}") from None
    except ValueError as err:
        logger.error("%s", display_path(str(err)))
        return 2

    jobs: list[tuple[Path, Any, list[str] | None]] = []
    if panel is not None:
        lane_names = panel.lane_names
        by_image: dict[Path, list[dict[str, Any]]] = {}
        for m in panel.markers:
            by_image.setdefault(m["image"], []).append(m)
        for image, entries in by_image.items():
            if len(entries) == 1 and entries[0]["strip"] is None:
                jobs.append((image, entries[0]["name"], lane_names))
            else:
                jobs.append((image, entries, lane_names))
        reference = panel.reference_lane
        ug_map = panel.ug_loaded
        ev_lanes = panel.ev_lanes
    else:
        reference = args.reference_lane or default_reference_lane(lane_names)
        markers = cli_markers if cli_markers is None or len(cli_markers) > 1 else cli_markers[0]
        try:
            for path in _collect_inputs(args.inputs):
                jobs.append((path, markers, lane_names))
        except ValueError as err:
            logger.error("%s", err)
            return 2
    if args.ladder_lane is None and lane_names and (named := named_ladder_lane(lane_names)) is not None:
        args.ladder_lane = named  # what quantify_blot takes too; recorded in run.json
        logger.info(
            "lane %d (%s) is taken as the ladder lane: no sample, no marker called there", named, lane_names[named - 1]
        )
    if not jobs:
        logger.error(
            "no images found in the inputs given (looked for %s); pass blot images or folders holding them",
            ", ".join(IMAGE_SUFFIXES),
        )
        return 2
    try:
        twice = sorted({n for n in lane_names or [] if (lane_names or []).count(n) > 1})
        if twice:
            raise ValueError(
                f"lane name(s) {', '.join(map(repr, twice))} given more than once ({', '.join(lane_names or [])}); "
                "give each lane its own name (e.g. exo1, exo2)"
            )
        markers_given = panel is not None or bool(cli_markers)
        _check_panel_arguments(
            lane_names, reference, ug_map, args.ladder_lane, markers=markers_given, ev_lanes=ev_lanes
        )
        if lane_names and reference is None and markers_given:
            raise ValueError(
                f"no lane is named 'lysate' ({', '.join(lane_names)}), so the reference lane for the EV/lysate "
                "ratios is unknown; name the lysate lane with --reference-lane NAME"
            )
        if ev_lanes is not None:
            _check_ev_lanes(ev_lanes, lane_names, reference, ladder_lane=args.ladder_lane)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    stems = assign_stems([job[0] for job in jobs])
    try:
        check_output_plan(
            out_dir=out_dir,
            inputs=[job[0] for job in jobs],
            outputs=[*RUN_FILES, *(f"{stem}{suffix}" for stem in stems for suffix in PER_IMAGE_SUFFIXES)],
            input_folders=[Path(item) for item in args.inputs if Path(item).is_dir()],
        )
        prepare_output_folder(out_dir)
        lock = contextlib.ExitStack()
        lock.enter_context(output_lock(out_dir, command="exo-vision blot"))
        remove_stale_temp_files(out_dir)  # an earlier run killed while writing left its temporary files
    except ValueError as err:
        logger.error("%s", err)
        return 2
    with lock:
        return _quantify_jobs(
            jobs,
            stems,
            args,
            out_dir=out_dir,
            panel=dict(reference=reference, ug_map=ug_map, ev_lanes=ev_lanes),
            lane_names=lane_names,
        )


def _quantify_jobs(jobs, stems, args, *, out_dir: Path, panel: dict[str, Any], lane_names) -> int:
    """Quantify every job into ``out_dir`` (whose lock the caller holds), then write the panel and run files.

    ``panel`` holds the panel's ``reference``, ``ug_map`` and ``ev_lanes``.
    """
    import pandas as pd

    from exo_vision._shared.atomic import atomic_write_text

    # The previous run's run-level files would describe a folder this run is rewriting: a run killed half way
    # leaves no run.json (the report calls the folder unfinished) rather than one beside newer band tables
    for name in RUN_FILES:
        (out_dir / name).unlink(missing_ok=True)
    tables, errors, warnings, images, caveats = [], [], {}, [], {}
    unmeasured: dict[str, tuple[str, int]] = {}
    for (path, markers, names), stem in zip(jobs, stems, strict=True):
        shown = display_path(path)
        try:
            if isinstance(markers, list) and markers and isinstance(markers[0], dict):
                strip_markers = _strip_markers(markers)
            else:
                strip_markers = markers
            table, warns, caveat, not_measured = quantify_file(
                path, out_dir=out_dir, markers=strip_markers, lane_names=names, args=args, stem=stem
            )
            tables.append(table)
            for marker, where in not_measured.items():
                unmeasured.setdefault(marker, where)
            if caveat:
                caveats[path.name] = caveat
            images.append(
                {
                    "input": display_path(path),
                    "stem": stem,
                    "status": "done",
                    "input_sha256": sha256_file(path),
                    # which marker each strip was measured as (from --marker or the panel file)
                    "markers": {str(k): v for k, v in sorted(_markers_by_strip(table).items())},
                }
            )
            if warns:
                warnings[display_path(path.name)] = warns
        except Exception as err:  # noqa: BLE001 - one bad input never stops the others; reported in run.json
            logger.debug("failed on %s", shown, exc_info=True)
            message = describe_failure(err)
            for name in (f"{shown}: ", f"{display_path(path.name)}: "):  # named once, not twice
                message = message[len(name) :] if message.startswith(name) else message
            logger.error("%s: %s", shown, message)
            errors.append({"input": shown, "error": message})
            images.append({"input": shown, "stem": stem, "status": "failed"})
            # an earlier run's outputs of this image would read as this run's (the report shows them)
            for suffix in PER_IMAGE_SUFFIXES:
                (out_dir / f"{stem}{suffix}").unlink(missing_ok=True)

    verdict: dict[str, Any] | None = None
    reference, ug_map = panel["reference"], panel["ug_map"]
    no_panel = ""
    if tables and reference is not None:
        all_bands = pd.concat(tables, ignore_index=True)
        if (all_bands["marker"].astype(str) != "").any():
            try:
                verdict = _write_panel(all_bands, out_dir=out_dir, panel=panel, caveats=caveats, unmeasured=unmeasured)
            except ValueError as err:
                logger.error("panel: %s", err)
                errors.append({"input": "panel", "error": str(err)})
    elif tables and args.marker and not lane_names:
        no_panel = "; no marker panel: --marker without --lane-names"
        logger.warning(
            "no marker panel (panel.csv, panel_summary.csv) was made: EV/lysate ratios and the MISEV verdict need "
            "the lanes' names, one of them the lysate lane (--lane-names lysate,exo1,exo2 ...); the band table "
            "gives the %s rows their volumes and present/absent calls",
            args.marker,
        )

    stale = _outputs_of_other_runs(out_dir, stems)
    if stale:
        message = (
            f"{len(stale)} file(s) in {display_path(out_dir)} are outputs of an earlier run for images not in this one "
            f"({', '.join(stale[:4])}{', ...' if len(stale) > 4 else ''}); this run's run.json does not describe "
            "them: move them away or give each run its own --out before sharing the folder"
        )
        logger.warning("%s", message)
        warnings[display_path(out_dir)] = [message]

    run_info = {
        "exo_vision_version": __version__,
        # the command as typed, one list item per word, as exo-vision tem records it
        "command": [display_path(a) for a in getattr(args, "command_line", None) or ["exo-vision", "blot"]],
        "parameters": {
            "lanes": args.lanes,
            "lane_ranges": _recorded_ranges(getattr(args, "lane_ranges", None)),
            "gel": bool(getattr(args, "gel", False)),
            "lane_names": lane_names,
            "reference_lane": reference,
            "ug_loaded": ug_map,
            "ev_lanes": panel["ev_lanes"],
            "marker": args.marker,
            "panel": args.panel,
            "background": args.background,
            "ladder_lane": args.ladder_lane,
            "ladder_kda": args.ladder_kda,
            "rolling_ball_radius_px": args.rolling_ball_radius_px,
            "central_fraction": args.central_fraction,
            "polarity": args.polarity,
            "lod": f"mean blank + {DEFAULT_BLOT_PARAMETERS.lod_factor:g} SD blank",
            "max_megapixels": args.max_megapixels,
            "frame": args.frame,
            "channel": args.channel,
            "blot_parameters": blot_parameters(args).to_dict(),
        },
        "software": software_versions(),
        "environment_lock": lock_status(),
        "machine": machine_description(),
        "inputs": [display_path(j[0]) for j in jobs],
        "images": images,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "working_directory": display_path(str(Path.cwd())),
        "panel_file": _panel_record(args.panel),
        "warnings": warnings,
        "errors": errors,
        "panel_verdict": verdict,
    }
    # one row per image that failed (header only when none did), as exo-vision tem writes it
    atomic_write_text(out_dir / "errors.csv", _csv_text(pd.DataFrame(errors, columns=["input", "error"])))
    atomic_write_text(out_dir / "run.json", json.dumps(printable(run_info), indent=2, default=str) + "\n")
    n_ok = len(jobs) - sum(e["input"] != "panel" for e in errors)
    sys.stdout.write(
        f"{len(jobs)} image(s): {n_ok} quantified, {len(jobs) - n_ok} failed"
        + (f"; MISEV panel {'PASS' if verdict['pass'] else 'FAIL'}" if verdict else "")
        + ("" if not verdict or not verdict.get("caveats") else " (indicative only: an 8-bit or rescaled export)")
        + ("; the panel could not be made (see the error above)" if any(e["input"] == "panel" for e in errors) else "")
        + no_panel
        + f"; outputs in {display_path(out_dir)}\n"
    )
    return 1 if errors else 0


def _outputs_of_other_runs(out_dir: Path, stems: list[str]) -> list[str]:
    """Names of the per-image outputs (:data:`PER_IMAGE_SUFFIXES`) in ``out_dir`` of images other than ``stems``."""
    ours = set(stems)
    return sorted(
        p.name
        for suffix in PER_IMAGE_SUFFIXES
        for p in out_dir.glob(f"*{suffix}")
        if p.name[: -len(suffix)] not in ours
    )


def _markers_by_strip(table) -> dict[int, str]:
    """``{strip: marker}`` of a band table (strips without a marker left out)."""
    named = table[table["marker"].astype(str) != ""]
    return {int(k): str(v) for k, v in named.groupby("strip")["marker"].first().items()}


def _panel_record(panel: str | None) -> dict[str, Any] | None:
    """The panel file a run used: its absolute path, checksum and text (so the record shows the layout)."""
    if not panel:
        return None
    path = Path(panel).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {"path": display_path(str(path)), "sha256": None, "text": None}
    return {"path": display_path(str(path)), "sha256": sha256_file(path), "text": text}


def _check_panel_arguments(
    lane_names: list[str] | None,
    reference: str | None,
    ug_map: dict[str, float] | None,
    ladder_lane: int | None,
    *,
    markers: bool = False,
    ev_lanes: list[str] | None = None,
) -> None:
    """Refuse a reference lane that is not a lane, or (with ``markers``) that is the ladder lane, or a µg amount
    that is negative, before any image is read (the panel then refuses 0 µg for the reference and the EV lanes,
    which are pooled)."""
    if lane_names and reference is not None and reference not in lane_names:
        raise ValueError(
            f"the reference lane {reference!r} is not among the lane names ({', '.join(lane_names)}); "
            "name one of them (--reference-lane, or reference_lane in the panel file)"
        )
    ladder = lane_names[ladder_lane - 1] if lane_names and ladder_lane and 0 < ladder_lane <= len(lane_names) else None
    if markers and ladder is not None and ladder == reference:
        raise ValueError(
            f"lane {ladder_lane} ({ladder!r}) is both the ladder lane (--ladder-lane {ladder_lane}) and the "
            "reference (lysate) lane the ratios divide by; a ladder lane holds no sample, so no marker is measured "
            "there. Give the ladder's own lane number (--ladder-lane), or, if that lane is the ladder, name it so and "
            "name the lysate lane (--lane-names, --reference-lane)"
        )
    pooled = _pooled_lanes(lane_names, reference, ev_lanes)
    bad = {
        k: v
        for k, v in (ug_map or {}).items()
        if k != ladder and not (math.isfinite(v) and (v > 0 or (v == 0 and k not in pooled)))
    }
    if bad:
        raise ValueError(
            f"µg loaded must be positive numbers for the reference lane and every EV lane (0 is accepted for a lane "
            f"that is not pooled, such as a blank or PBS lane), got {bad}"
        )


def _pooled_lanes(lane_names: list[str] | None, reference: str | None, ev_lanes: list[str] | None) -> set[str]:
    """The lanes the panel divides by or pools (the reference and the EV lanes), which need a positive µg load."""
    from exo_vision.blot.panel import EV_ROLE, lane_roles

    if not lane_names:
        return set()
    if reference is None or reference not in lane_names:
        return set(lane_names)
    roles = lane_roles(lane_names, reference_lane=reference, ev_lanes=ev_lanes)
    return {n for n in lane_names if n == reference or roles[n][0] == EV_ROLE}


def _check_ev_lanes(
    ev_lanes: list[str], lane_names: list[str] | None, reference: str | None, *, ladder_lane: int | None = None
) -> None:
    """Refuse EV lanes that are not lanes, the reference or the ladder, before any image is read."""
    from exo_vision.blot.panel import lane_roles

    if not lane_names:
        raise ValueError("--ev-lanes names lanes by their names: give the lane names too (--lane-names)")
    ladder = lane_names[ladder_lane - 1] if ladder_lane and 0 < ladder_lane <= len(lane_names) else None
    if ladder is not None and ladder in ev_lanes:
        raise ValueError(
            f"--ev-lanes names {ladder!r}, the ladder lane (lane {ladder_lane}, no sample); leave it out of them"
        )
    lane_roles(lane_names, reference_lane=reference or "", ev_lanes=ev_lanes)


def _strip_markers(entries: list[dict[str, Any]]) -> dict[int, str]:
    """``{strip number: marker}`` for an image named by several panel entries."""
    out: dict[int, str] = {}
    for e in entries:
        k = e["strip"] or 1
        if k in out:
            raise ValueError(f"panel names two markers ({out[k]}, {e['name']}) for strip {k} of {e['image'].name}")
        out[k] = e["name"]
    return out


def _write_panel(
    bands, *, out_dir: Path, panel: dict[str, Any], caveats: dict[str, str], unmeasured: dict[str, tuple[str, int]]
) -> dict[str, Any]:
    """Write the panel files of ``bands`` (``panel``: its ``reference``, ``ug_map`` and ``ev_lanes``; markers
    probed but measured nowhere in ``unmeasured``); return the verdict and its reasons."""
    from exo_vision._shared.atomic import atomic_write
    from exo_vision.blot.panel import enrichment_table, misev_verdict, panel_summary, pooled_lanes_line
    from exo_vision.figures.blot import panel_figure
    from exo_vision.figures.style import save_figure

    enrichment = enrichment_table(
        bands,
        reference_lane=panel["reference"],
        ug_loaded=panel["ug_map"],
        ev_lanes=panel["ev_lanes"],
        caveats=caveats,
        unmeasured=unmeasured,
    )
    summary = panel_summary(enrichment)
    ok, reasons = misev_verdict(summary)
    merged = enrichment.merge(summary[["marker", "verdict", "reason"]], on="marker", how="left")
    _write_csv(out_dir / "panel.csv", merged)
    _write_csv(out_dir / "panel_summary.csv", summary)
    indicative = bool(enrichment["caveat"].astype(bool).any())
    title = f"MISEV panel: {'PASS' if ok else 'FAIL'}" + (" (indicative: export)" if indicative else "")
    fig = panel_figure(enrichment, summary, title=title)
    for suffix in ("png", "svg"):

        def write_panel(tmp: Path, fmt: str = suffix) -> None:
            save_figure(fig, str(tmp), fmt=fmt)

        atomic_write(out_dir / f"panel.{suffix}", write_panel)
    for s in dict.fromkeys(enrichment["statement"]):  # "not detected in the reference lane" once per marker
        if s:
            logger.info("%s", s)
    logger.info("%s", pooled_lanes_line(summary))
    for r in reasons:
        logger.info("%s", r)
    return {"pass": ok, "reasons": reasons, "caveats": [c for c in dict.fromkeys(enrichment["caveat"]) if c]}
