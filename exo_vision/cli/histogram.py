"""`exo-vision histogram`: a publication size histogram from one or more vesicle tables."""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas, numpy and matplotlib are imported when a histogram is drawn, not for --help
    import pandas as pd

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Draw a journal-style vesicle size distribution (SVG, PDF or PNG at 300 dpi)
from one or more vesicles.csv tables written by `exo-vision tem` (or any table
with an equivalent_diameter_nm column), and write the bin table as CSV beside
the figure (FIG stem + _bins.csv).

Groups (one histogram, panel, violin or box each) come from --group-by:
  auto       a `condition` column if the tables have one, else one group per
             table file when several are given, else all vesicles together
  image      the `image` column (one group per micrograph)
  grid       the folder holding each source micrograph (`source_file` column)
  file       one group per table file (named after its folder for vesicles.csv;
             names two files share take more folders: ctrl/results, ev/results)
  none       all vesicles together
  COLUMN     any other column of the tables, e.g. condition
--pattern REGEX then maps each group name to its first capture group (or the
whole match), e.g. --group-by image --pattern '^(ctrl|treated)' pools images
by preparation. Vesicles cut by the image edge are counted as the `tem` run that
wrote the table did (--include-border or not; its run.json says), else left out;
--include-border / --no-include-border decide for every table. Copies of one
micrograph (the run.json beside each table records them) are counted once, as
the report counts them; a warning names each copy left out. The output folder
of a napari grid session (no vesicles.csv) is read as one table: its saved
micrographs pooled, each micrograph once, as `exo-vision report` pools them;
the output folder of an `exo-vision tem` run gives its vesicles.csv.

The figure carries its provenance under the axes (pixel size or range and its
source, method and model, the smallest diameter counted, the edge-cut vesicles
left out, and a note when micrographs coarser than the outer half membrane's
limit are pooled), read from the run.json beside each table (or a table's
pixel_size_nm column); the bin table repeats it in its last columns.
"""

EPILOG = """\
examples:
  exo-vision histogram results/vesicles.csv --out fig1.svg --kde
  exo-vision histogram ctrl/vesicles.csv ev/vesicles.csv --out cmp.pdf --layout violin
  exo-vision histogram all.csv --group-by image --pattern '^(\\w+?)_' --percent --out fig.png
  exo-vision histogram results/vesicles.csv --weighting intensity --out dls_like.svg
  exo-vision histogram grid_session_out --out grid.svg
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `histogram` subcommand."""
    p = subparsers.add_parser(
        "histogram",
        help="publication size histogram from vesicles.csv tables",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "tables",
        nargs="+",
        metavar="TABLE",
        help="vesicles.csv files, or the output folder of an exo-vision tem run (its vesicles.csv) or of a napari "
        "grid session (its micrographs pooled, copies once)",
    )
    p.add_argument("--out", required=True, metavar="FIG", help="figure file: .svg, .pdf or .png")
    p.add_argument(
        "--group-by", default="auto", metavar="WHAT", help="auto (default), image, grid, file, none, or a column name"
    )
    p.add_argument("--pattern", metavar="REGEX", help="map group names through this regular expression")
    p.add_argument("--bin-width-nm", type=float, default=10.0, metavar="NM", help="bin width in nm (default 10)")
    p.add_argument("--range-nm", type=float, nargs=2, metavar=("LOW", "HIGH"), help="diameter range of the bins")
    p.add_argument("--percent", action="store_true", help="percent instead of counts")
    p.add_argument("--kde", action="store_true", help="add a kernel density line")
    p.add_argument(
        "--weighting",
        choices=("number", "volume", "intensity"),
        default="number",
        help="weight vesicles by 1, d^3 or d^6 (as DLS sees them); default number",
    )
    p.add_argument(
        "--layout",
        choices=("overlay", "side-by-side", "violin", "box"),
        default="overlay",
        help="how groups are compared (default overlay)",
    )
    p.add_argument(
        "--width",
        choices=("single", "double"),
        default="single",
        help="journal column width: single 85 mm (default) or double 180 mm",
    )
    p.add_argument(
        "--include-border",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count the vesicles cut by the image edge (their sizes are truncated; the legend says how many), or "
        "with --no-include-border leave them out; by default each table follows the run that wrote it (its "
        "run.json, or the done marker of a <stem>_vesicles.csv), and a table without that record leaves them out",
    )
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=run)


def tem_folder_table(raw: str) -> str:
    """The pooled vesicle table of an ``exo-vision tem`` output folder (its ``vesicles.csv``, as ``report --tem``
    reads it) for a folder holding a ``run.json``; any other argument as given.

    Raises
    ------
    ValueError
        For a ``tem`` output folder without its ``vesicles.csv``.
    """
    folder = Path(raw)
    if not (folder.is_dir() and (folder / "run.json").is_file()):
        return raw
    table = folder / "vesicles.csv"
    if not table.is_file():
        raise ValueError(
            f"{folder} is an exo-vision tem output folder without its vesicles.csv; run `exo-vision tem` into it "
            "again with --resume to rewrite the pooled tables"
        )
    return str(table)


def _session_folder_table(folder: Path) -> tuple[Path, pd.DataFrame, bool, dict]:
    """The pooled vesicle table of a napari grid session's output folder, as ``exo-vision tem --resume`` would
    write its ``vesicles.csv`` (each micrograph once: :func:`~exo_vision.report.session_folder.read_session_folder`),
    keyed ``<folder>/vesicles.csv``, whether the session counted the vesicles cut by the image edge, and the run
    record built for it.

    Raises
    ------
    ValueError
        For a folder that is not a grid session's (naming the tables to pass instead), or a session with a
        micrograph not saved yet.
    """
    from exo_vision.report.session_folder import is_session_folder, read_session_folder

    if not is_session_folder(folder):
        raise ValueError(
            f"{folder} is a folder but neither a finished exo-vision tem run's output folder (no run.json: the run "
            "did not end, or it is another folder) nor a napari grid session's; pass the vesicle tables inside it: "
            f"{folder / 'vesicles.csv'} (written by exo-vision tem when its run ends) or its per-image "
            "<image>_vesicles.csv tables"
        )
    run, _, pooled = read_session_folder(folder, option="histogram")
    return folder / "vesicles.csv", pooled, not bool((run.get("parameters") or {}).get("exclude_border", True)), run


def _read_tables(
    paths: list[str],
    *,
    text_columns: tuple[str, ...] = (),
    counts_edge: dict[Path, bool] | None = None,
    session_runs: dict[Path, dict] | None = None,
) -> list[tuple[Path, pd.DataFrame]]:
    """Read each table once (``text_columns`` as the text written); a table named twice would count its
    vesicles twice. A napari grid session's output folder gives its pooled table (:func:`_session_folder_table`);
    whether it counted the edge-cut vesicles goes into ``counts_edge``, its run record into ``session_runs``."""
    from exo_vision.measure.tables import read_vesicle_table

    seen: dict[Path, str] = {}
    for raw in paths:
        key = Path(raw).resolve()
        if key in seen:
            raise ValueError(
                f"table {raw} is given twice (also as {seen[key]}); its vesicles would be counted twice: "
                "name each table once"
            )
        seen[key] = raw
    tables = []
    for raw in paths:
        if Path(raw).is_dir():
            path, table, counted, run = _session_folder_table(Path(raw))
            if counts_edge is not None:
                counts_edge[path] = counted
            if session_runs is not None:
                session_runs[path] = run
            tables.append((path, table))
        else:
            tables.append((Path(raw), read_vesicle_table(raw, text_columns=text_columns)))
    return tables


def check_finished_runs(paths: list[str]) -> None:
    """Refuse a table in the output folder of an `exo-vision tem` run that is writing it now, or that did not
    finish (results, no run.json): its tables may mix another run's numbers with this one's. A napari grid
    session's folder (its session file, every marker the session's) has no run.json and is accepted.

    Raises
    ------
    ValueError
        Naming the table, its folder and the fix.
    """
    from exo_vision._shared.run_lock import check_not_being_written

    for raw in paths:
        if Path(raw).is_dir():  # a grid session's folder: read_session_folder checks each micrograph is saved
            continue
        folder = Path(raw).parent
        check_not_being_written(
            folder, option=f"table {raw}: its folder", fix="draw the histogram when that run has ended"
        )
        if not (folder / "run.json").is_file() and any(folder.glob("*_done.json")):
            if _saved_by_grid_session(folder):  # each table the session saved is complete: its marker vouches
                continue
            raise ValueError(
                f"table {raw}: its folder {folder} holds results of an `exo-vision tem` run but no run.json, so "
                "that run did not finish (it was stopped or failed) and its tables may hold an earlier run's "
                f"numbers; run `exo-vision tem` into {folder} again with --resume to complete it, then draw "
                "the histogram"
            )


def _saved_by_grid_session(folder: Path) -> bool:
    """Whether every done marker in ``folder`` was written by a napari grid session (which writes no run.json:
    each micrograph it saves is complete on its own) beside its session file."""

    from exo_vision.session.grid import SESSION_FILE

    if not (folder / SESSION_FILE).is_file():
        return False
    for marker in folder.glob("*_done.json"):
        try:
            if not json.loads(marker.read_text(encoding="utf-8")).get("curated_in_gui"):
                return False
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return False
    return True


#: The group of vesicles whose grouping cell is blank.
BLANK_GROUP = "(blank)"

#: Most groups a layout shows legibly in a journal column (an overlay's legend lines, stacked panels' height).
MAX_READABLE_GROUPS = {"overlay": 4, "side-by-side": 6}

#: Diameters outside this range (nm) are not vesicles measured in nm: a table in µm, or a typing slip.
PLAUSIBLE_DIAMETER_NM = (1.0, 10_000.0)


def implausible_diameters(path: Path, diameters: pd.Series) -> list[str]:
    """Warnings for diameters no vesicle has in nm (the column in µm, or a slip), naming file and rows."""
    import numpy as np

    low, high = PLAUSIBLE_DIAMETER_NM
    messages = []
    for outside, what in ((diameters < low, f"below {low:g} nm"), (diameters > high, f"above {high:g} nm")):
        if outside.any():
            rows = [int(i) + 1 for i in np.flatnonzero(outside.to_numpy())]
            shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
            messages.append(
                f"{path}: {len(rows)} of {len(diameters)} diameter(s) {what} (data row(s) {shown}; e.g. "
                f"{diameters[outside].iloc[0]:g}): no vesicle measures that in nm; check the rows, and that the "
                "column holds nanometres, not µm"
            )
    return messages


def border_rules(paths: list[Path], include_border: bool | None) -> dict[Path, bool]:
    """Per table, whether its vesicles cut by the image edge are counted: ``include_border`` when given, else as
    the run that wrote the table recorded it (:func:`~exo_vision.measure.tables.recorded_exclude_border`), else
    not (``exo-vision tem``'s default)."""
    from exo_vision.measure.tables import recorded_exclude_border

    if include_border is not None:
        return dict.fromkeys(paths, bool(include_border))
    rules = {}
    for path in paths:
        recorded = recorded_exclude_border(path)
        rules[path] = recorded is False
    return rules


def group_diameters(
    tables: list[tuple[Path, pd.DataFrame]],
    *,
    group_by: str = "auto",
    pattern: str | None = None,
    include_border: bool | dict[Path, bool] = False,
) -> dict[str, pd.Series]:
    """Diameters (nm) per group name, in first-seen order (:func:`group_diameters_and_edge_cuts`)."""
    return group_diameters_and_edge_cuts(tables, group_by=group_by, pattern=pattern, include_border=include_border)[0]


def group_diameters_and_edge_cuts(
    tables: list[tuple[Path, pd.DataFrame]],
    *,
    group_by: str = "auto",
    pattern: str | None = None,
    include_border: bool | dict[Path, bool] = False,
) -> tuple[dict[str, pd.Series], dict[str, int]]:
    """Diameters (nm) per group name, in first-seen order, and per group how many of them are of vesicles cut
    by the image edge (counted where ``include_border`` keeps them).

    Parameters
    ----------
    tables : list of (Path, DataFrame)
        Table files and their contents.
    group_by : str
        ``auto``, ``image``, ``grid``, ``file``, ``none`` or a column name.
    pattern : str, optional
        Regular expression applied to each group name; the first capture
        group (or the whole match) becomes the group.
    include_border : bool or dict of Path to bool
        Keep the vesicles cut by the image edge (``touches_border``): for every table, or per table path.
    """
    import pandas as pd

    from exo_vision.measure.tables import table_group_names, truth_values

    mode = group_by
    if mode == "auto":
        if all("condition" in t.columns for _, t in tables):
            mode = "condition"
        else:
            mode = "file" if len(tables) > 1 else "none"
    file_names = table_group_names([path for path, _ in tables]) if mode == "file" else {}
    frames = []
    for path, table in tables:
        t = table
        keep_edge = include_border.get(path, False) if isinstance(include_border, dict) else include_border
        edge = truth_values(t["touches_border"]) if "touches_border" in t.columns else pd.Series(False, index=t.index)
        if not keep_edge:
            t, edge = t[~edge], edge[~edge]
        if mode == "none":
            key = pd.Series("all vesicles", index=t.index)
        elif mode == "file":
            key = pd.Series(file_names[path], index=t.index)
        elif mode == "grid":
            if "source_file" not in t.columns:
                raise ValueError(f"{path} has no source_file column to find grids in; use --group-by image or file")
            key = t["source_file"].astype(str).map(lambda s: Path(s).parent.name or ".")
        else:
            column = mode
            if column not in t.columns:
                raise ValueError(
                    f"{path} has no {column!r} column to group by (columns: {', '.join(map(str, t.columns))}); "
                    "use --group-by auto, image, grid, file, none or an existing column"
                )
            key = t[column].map(lambda v: BLANK_GROUP if pd.isna(v) or str(v) == "" else str(v))
        frames.append(
            pd.DataFrame({"group": key, "d": t["equivalent_diameter_nm"].astype(float), "edge": edge.astype(bool)})
        )
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"group": [], "d": [], "edge": []})
    if pattern:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"--pattern {pattern!r} is not a valid regular expression: {err}") from err

        def mapped(name: str) -> str:
            match = regex.search(name)
            if match is None:
                return "unmatched"
            return match.group(1) if regex.groups else match.group(0)

        data["group"] = data["group"].map(mapped)
        if (data["group"] == "unmatched").any():
            logger.warning(
                "--pattern %r did not match %d vesicle(s); they form the group 'unmatched'",
                pattern,
                int((data["group"] == "unmatched").sum()),
            )
    grouped = data.groupby("group", sort=False, dropna=False)
    return (
        {str(name): g["d"] for name, g in grouped},
        {str(name): int(g["edge"].astype(bool).sum()) for name, g in grouped},
    )


def run(args: argparse.Namespace) -> int:
    """Draw the figure and its bin table; return 0, or 2 on bad input."""
    from exo_vision._shared.atomic import file_group, remove_stale_temp_files
    from exo_vision._shared.csv_tables import csv_text
    from exo_vision.figures.histogram import size_histogram_figure
    from exo_vision.figures.provenance import PROVENANCE_COLUMNS, provenance_caption, table_provenance
    from exo_vision.figures.style import GROUP_COLORS, figure_width_mm, save_figure
    from exo_vision.measure.tables import DIAMETER_COLUMN, table_group_names
    from exo_vision.report.table_copies import leave_out_copies

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    try:
        args.tables = [tem_folder_table(raw) for raw in args.tables]
        if fmt not in ("svg", "pdf", "png"):
            raise ValueError(f"--out {out}: the figure must end in .svg, .pdf or .png")
        if not out.parent.is_dir():
            raise ValueError(f"--out {out}: folder {out.parent} does not exist; create it first")
        bins_path = out.with_name(f"{out.stem}_bins.csv")
        inputs = {Path(raw).resolve() for raw in args.tables}
        for target in (out, bins_path):
            if target.resolve() in inputs:
                raise ValueError(
                    f"--out {out} would write {target}, which is one of the input tables; choose another --out name"
                )
        if not (math.isfinite(args.bin_width_nm) and args.bin_width_nm > 0):
            raise ValueError(f"--bin-width-nm must be a positive number of nm, got {args.bin_width_nm:g}")
        if args.layout in ("violin", "box") and args.weighting != "number":
            # the figure was the number-weighted one while the bin table beside it was weighted
            raise ValueError(
                f"--layout {args.layout} shows every vesicle once (by number): it cannot be weighted by "
                f"{args.weighting}; use --layout overlay or side-by-side for a {args.weighting}-weighted histogram"
            )
        if args.range_nm and not (all(map(math.isfinite, args.range_nm)) and 0 <= args.range_nm[0] < args.range_nm[1]):
            low, high = args.range_nm
            raise ValueError(f"--range-nm must be two finite diameters 0 <= LOW < HIGH in nm, got {low:g} {high:g}")
        check_finished_runs(args.tables)
        sessions: dict[Path, bool] = {}
        session_runs: dict[Path, dict] = {}
        tables = _read_tables(
            args.tables, text_columns=(args.group_by,), counts_edge=sessions, session_runs=session_runs
        )
        rules = border_rules([path for path, _ in tables], args.include_border)
        if args.include_border is None:
            rules.update(sessions)  # a grid session's folder: as the session counted them
        left_out = leave_out_copies(tables, include_border=rules)
        tables, copied = left_out.tables, left_out.lines
        if copied:  # each micrograph once, as `tem`'s pooled tables and the report count it
            logger.warning(
                "%d copied micrograph(s) left out (the run.json, or a grid session's done-markers, beside the "
                "tables record them as one micrograph with an earlier table's; the report counts each micrograph "
                "once too): %s",
                len(copied),
                "; ".join(copied),
            )
        for line in left_out.only_copies_lines(table_group_names([path for path, _ in tables])):
            logger.warning("%s", line)  # its group would otherwise vanish from the figure unexplained
        for path, table in tables:
            for message in implausible_diameters(path, table[DIAMETER_COLUMN]):
                logger.warning("%s", message)
        groups, edge_cut = group_diameters_and_edge_cuts(
            tables, group_by=args.group_by, pattern=args.pattern, include_border=rules
        )
        if args.include_border is None and any(rules.values()):
            logger.info(
                "the vesicles cut by the image edge are counted, as the run that wrote %s did (--include-border; "
                "--no-include-border leaves them out): %d of them, their sizes truncated (the legend says so)",
                ", ".join(
                    f"{p.parent} (grid session)" if p in sessions else str(p) for p, keep in rules.items() if keep
                ),
                sum(edge_cut.values()),
            )
        if not groups:
            raise ValueError("the tables hold no vesicles to plot (after leaving out border vesicles)")
        readable = MAX_READABLE_GROUPS.get(args.layout)
        if readable is not None and len(groups) > readable:
            logger.warning(
                "%d groups drawn as %s: more than %d is hard to read (legends crowd the bars, and the %d colours "
                "repeat); use --layout violin or box for many groups, or a --pattern that merges them",
                len(groups),
                args.layout,
                readable,
                len(GROUP_COLORS),
            )

        provenance, coarse = table_provenance(tables, rules, session_runs)
        for message in coarse:
            logger.warning("%s", message)
        fig, bins = size_histogram_figure(
            {k: v.to_numpy() for k, v in groups.items()},
            bin_width_nm=args.bin_width_nm,
            weighting=args.weighting,
            percent=args.percent,
            kde=args.kde,
            layout=args.layout,
            width=args.width,
            range_nm=tuple(args.range_nm) if args.range_nm else None,
            title=args.title,
            edge_cut=edge_cut,
            caption=provenance_caption(provenance, width_mm=figure_width_mm(args.width)),
        )
        for column in PROVENANCE_COLUMNS:  # the bin table says where its diameters come from, as the figure does
            bins[column] = provenance[column]
    except ValueError as err:
        logger.error("%s", err)
        return 2
    outside = sum(len(d) for d in groups.values()) - int(bins["count"].sum())
    if outside:
        axis = (float(bins["bin_left_nm"].min()), float(bins["bin_right_nm"].max()))
        hidden = ""
        if args.weighting != "number":  # what the axis hides is weight: one large vesicle may carry most of it
            from exo_vision.figures.histogram import hidden_weight_fraction

            shares = [
                f"{name or 'all'} {100 * hidden_weight_fraction(d.to_numpy(), axis, weighting=args.weighting):.1f} %"
                for name, d in groups.items()
                if ((d < axis[0]) | (d > axis[1])).any()
            ]
            hidden = f"; they carry this share of the {args.weighting} weight: {', '.join(shares)}"
        logger.warning(
            "%d vesicle(s) lie outside the bins (%g-%g nm): they are not drawn, but stay in n and in the "
            "percentages (the legend says how many per group)%s",
            outside,
            axis[0],
            axis[1],
            hidden,
        )
    buffer = io.BytesIO()
    save_figure(fig, buffer, fmt=fmt)
    remove_stale_temp_files(out.parent)  # an earlier histogram killed while writing left its temporary files
    try:
        with file_group() as group:  # the figure and its bin table appear together (never a new one beside an old)
            group.stage_bytes(out, buffer.getvalue())
            group.stage_bytes(bins_path, csv_text(bins).encode("utf-8"))
    except OSError as err:
        logger.error("cannot write %s: %s; choose a folder you may write to", out, err.strerror or err)
        return 2
    sys.stdout.write(f"{out}\n{bins_path}\n")
    return 0
