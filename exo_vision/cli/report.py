"""`exo-vision report`: a self-contained HTML characterization report of one EV preparation."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Write a MISEV-style characterization report of one extracellular-vesicle
preparation as a single HTML file that opens in any browser with no network
(pictures embedded, no scripts, no web fonts). It reads the output folders of
`exo-vision tem` and `exo-vision blot`; nothing is re-analysed.

The report holds: calibration per image and its source; grids, images and
vesicles counted; size statistics (n, mean ± SD, CI, median, mode,
D10/D50/D90, span, PDI, volume- and intensity-weighted means); number- and
intensity-weighted histograms; morphology fractions; a wide-field overlay and a
close-up; the western-blot marker panel with its verdict (CD9+, CD63+,
calnexin−) and the calnexin upper bound; values from other instruments beside
the TEM values (the DLS Z-average next to the TEM diameters' Z-average
equivalent Σd⁶/Σd⁵, the intensity-weighted harmonic mean a Z-average estimates);
parameters, software versions and input checksums.

A grid is one --tem folder: analyse each grid with its own `exo-vision tem
--out DIR` and give --tem once per grid. Replicate blots (one `exo-vision blot`
run each, with its own lysate lane) are given with --blot once per run: each gets
a section and a verdict of its own (two runs of the same image are refused). Pieces not given (no --blot, a blot
folder without panel.csv, no --dls ...) appear as "not provided".
"""

EPILOG = """\
instrument values (key=value pairs separated by commas; a bare number = the first key):
  --dls      z_avg_nm (required), sd_nm, pdi, instrument
  --zeta     mean_mv (required), sd_mv, instrument
  --protein  ug_per_ml (required), sd_ug_per_ml, method

examples:
  exo-vision report --tem results/grid1 --tem results/grid2 --blot results/blot --out report.html
  exo-vision report --tem results/grid1 --blot results/blot \\
      --dls "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21" --zeta "mean_mv=-23.5,sd_mv=4.1" \\
      --protein "ug_per_ml=850,method=BCA" --title "HEK293 EVs, SEC fraction 7-9" --out report.html
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `report` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="self-contained HTML characterization report (MISEV) from tem and blot outputs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--tem",
        action="append",
        default=[],
        metavar="DIR",
        help="output folder of `exo-vision tem` (one grid); repeat for several grids",
    )
    p.add_argument(
        "--blot",
        action="append",
        default=[],
        metavar="DIR",
        help="output folder of `exo-vision blot` (with --panel); repeat for replicate blots (one section each)",
    )
    p.add_argument("--dls", metavar="VALUES", help='DLS values, e.g. "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21"')
    p.add_argument("--zeta", metavar="VALUES", help='zeta potential, e.g. "mean_mv=-23.5,sd_mv=4.1"')
    p.add_argument("--protein", metavar="VALUES", help='protein concentration, e.g. "ug_per_ml=850,method=BCA"')
    p.add_argument(
        "--title",
        default="EV characterization report",
        metavar="TEXT",
        help="title of the report (e.g. the preparation's name)",
    )
    p.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; return 0 on success, 2 on bad input (message on stderr)."""
    from exo_vision._shared.atomic import atomic_write_text, remove_stale_temp_files
    from exo_vision.report import build_report

    out = Path(args.out)
    try:
        if out.is_dir():
            raise ValueError(f"--out {out}: is a folder; give a file name such as {out / 'report.html'}")
        if out.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"--out {out}: the report is HTML; give a file name ending in .html")
        if not out.parent.exists():
            raise ValueError(f"--out {out}: folder {out.parent} does not exist; create it first")
        page = build_report(
            tem_dirs=args.tem, blot_dir=args.blot, dls=args.dls, zeta=args.zeta, protein=args.protein, title=args.title
        )
    except ValueError as err:
        logger.error("%s", err)
        return 2
    remove_stale_temp_files(out.parent)  # an earlier report killed while writing left its temporary file
    try:
        atomic_write_text(out, page)
    except OSError as err:
        logger.error("cannot write %s: %s; choose a folder you may write to", out, err.strerror or err)
        return 2
    # The designated stdout output: one line a script can read.
    sys.stdout.write(f"report written to {out} ({len(page.encode('utf-8')) / 1e6:.1f} MB)\n")
    return 0
