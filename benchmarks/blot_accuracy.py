"""Accuracy of blot quantification on generated blots, lanes found automatically.

Generated with :mod:`exo_vision.synthetic.blot` (seeded; uneven blotchy
background, Poisson + read noise, dust, pen mark, smile, tilt, uneven lane
spacing, sharp bands and CD63-like smears, several strips, faint and
saturated lanes; 16-bit raw and 8-bit inverted exports). No lane or band box
is given: strips, lanes and bands are found by ``quantify_blot``.

Prints, for exo_vision's default (lane-profile baseline) and, side by side,
for an ImageJ-style rolling-ball (radius 50 px) background:

(a) 2-fold dilution series of 8 lanes: largest deviation from proportional
    volume among unsaturated lanes above the LoD (bar <= 10 %);
(b) lysate/exo1/exo2 MISEV panels: median relative error of the EV/lysate
    ratio (bar <= 3 %), also per marker (the CD63 smear shows what a
    rolling ball of 50 px eats);
(c) present/absent calls, including calnexin absent from EV lanes (bar 100 %);
    bands whose true volume (in the image's units, over the quantified part
    of the lane) is below 2x the measured LoD are listed as "near LoD" and
    not scored (a call there is a coin toss by definition). Scored twice,
    plainly labelled: against the physical truth (``present``), and against
    the information the image still holds (``visible_in_export``: an 8-bit
    export keeps less than a quarter of some faint bands' signal when a
    saturated band sets its display range and the noise is too small to
    dither the rounding; there a band is "near LoD" when the signal the
    export keeps, ``export_signal_share`` of it, is below 2x LoD; see
    :mod:`exo_vision.synthetic.blot`);
(d) saturated bands flagged (bar 100 %) and false flags (bar 0);
(e) phantom bands per lane: reported present bands that are no true band's row (each generated
    strip holds one band row), all images and the two-membrane frames alone;
(f) two-membrane frames (:func:`exo_vision.synthetic.blot.make_two_membrane_frame`: two membranes with
    a gap, lanes through both, pen-written ladders, tilted bands, strongly blotchy background): share of
    true lanes found;
plus the fraction of each CD63 smear's volume that the rolling ball removes.

Usage::

    .venv/bin/python benchmarks/blot_accuracy.py            # 10 seeds of each kind
    .venv/bin/python benchmarks/blot_accuracy.py --seeds 3  # quick look
    .venv/bin/python benchmarks/blot_accuracy.py --json results/blot_accuracy.json  # also as JSON

(a) is also printed for ``--extra-dilution-seeds`` (default 30) further 8-bit
dilution series (exo_vision's default method only), because the 8-bit
figure over 10 series depends on where each background sits between two
grey levels.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_record import write_json

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import whole_image_strip
from exo_vision.synthetic.blot import make_dilution_series, make_marker_panel, make_random_blot, make_two_membrane_frame

METHODS = {
    "exo_vision (profile)": BlotParameters(background="profile"),
    "ImageJ ball r=50 (2-D)": BlotParameters(background="rolling_ball", rolling_ball_radius_px=50.0),
    "lane disk r=50 (1-D)": BlotParameters(background="rolling_disk", rolling_ball_radius_px=50.0),
}


def match(blot, result) -> pd.DataFrame:
    """Attach to each truth band the measured row of the same lane and band (NaN when not found)."""
    rows = []
    bands = result.bands
    for t in blot.truth.itertuples():
        hit = None
        for lane in result.lanes:
            if not (lane.y_top_px <= t.y_px < lane.y_bottom_px):
                continue
            if abs(float(lane.centre_x(t.y_px)) - t.x_centre_px) > 0.5 * t.lane_width_px:
                continue
            cand = bands[(bands.strip == lane.strip) & (bands.lane == lane.index)]
            inside = cand[(cand.y_top_px <= t.y_px) & (cand.y_bottom_px > t.y_px)]
            if len(inside):
                hit = inside.iloc[0]
                scale = (hit.x_right_px - hit.x_left_px) / t.lane_width_px
            break
        rec = t._asdict()
        if hit is None:
            rec.update(
                found=False,
                volume=np.nan,
                lod=np.nan,
                present_call=False,
                saturated_call=False,
                scale=np.nan,
                hit_label=-1,
            )
        else:
            rec.update(
                found=True,
                volume=hit.volume,
                lod=hit.lod_volume,
                present_call=bool(hit.present),
                saturated_call=bool(hit.saturated),
                scale=scale,
                hit_label=int(hit.label),
            )
        rows.append(rec)
    return pd.DataFrame(rows)


def strip_markers(blot) -> list[str]:
    """The truth's marker name per strip: the band row each strip is probed for (requested in every lane)."""
    return blot.truth.groupby("strip").marker.first().tolist()


def _with_units(out: dict) -> dict:
    """A method's printed metrics keyed with their unit: fractions (printed as %), counts, seconds."""
    rec = {}
    for key, value in out.items():
        if key == "time for all images (s)":
            rec[key] = float(value)
        elif isinstance(value, float):
            rec[f"{key} (fraction)"] = value
        elif isinstance(value, (int, np.integer)):
            rec[key if key.endswith("(count)") else f"{key} (count)"] = int(value)
        else:
            rec[f"{key} (counts)"] = value
    return rec


def run(seeds: int, first: int = 0) -> dict:
    """Print the tables; return their figures (per method, and the rolling-ball smear shares)."""
    blots = []
    for seed in range(first, first + seeds):
        for export in ("raw", "inverted8"):
            blots.append(("dilution", export, make_dilution_series(rng=seed, export=export), None))
            blots.append(
                ("panel", export, make_marker_panel(rng=100 + seed, export=export), ["CD9", "CD63", "calnexin"])
            )
            random_blot = make_random_blot(rng=200 + seed, export=export)
            blots.append(("random", export, random_blot, strip_markers(random_blot)))
            frame = make_two_membrane_frame(rng=300 + seed, export=export)
            blots.append(("frame", export, frame, strip_markers(frame)))
    print(
        f"{len(blots)} generated blots ({seeds} seeds from {first} x dilution/panel/random/two-membrane frame "
        "x raw 16-bit/8-bit inverted); each strip's band row is requested (its marker), so every lane gets a "
        "present/absent call there"
    )
    results = {}
    for name, params in METHODS.items():
        t0 = time.perf_counter()
        matched = []
        failures = 0
        for kind, export, blot, markers in blots:
            if markers is None and kind == "dilution":
                markers = "target"
            try:
                res = quantify_blot(
                    blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=markers, params=params
                )
            except ValueError as err:
                failures += 1
                print(f"  [{name}] {kind}/{export}: {err}")
                continue
            m = match(blot, res)
            m["kind"], m["export"], m["blot"] = kind, export, id(blot)
            m["gain"] = blot.counts_per_raw_count
            # phantoms: present rows that are no truth band's row (each strip holds one band row)
            extra = res.bands[res.bands.present & ~res.bands.label.isin(m.hit_label)]
            m["phantoms_in_image"] = len(extra)
            matched.append(m)
        results[name] = (pd.concat(matched, ignore_index=True), failures, time.perf_counter() - t0)

    def fmt(x, pct=True):
        return "n/a" if x is None or not np.isfinite(x) else (f"{100 * x:.2f} %" if pct else f"{x}")

    table = {}
    for name, (m, failures, secs) in results.items():
        out = {}
        # (a) dilution linearity
        devs = {"raw": [], "inverted8": []}
        for (_, export), g in m[m.kind == "dilution"].groupby(["blot", "export"]):
            ok = g[g.found & ~g.saturated_call & (g.volume > g.lod)]
            if len(ok) < 3:
                continue
            ratio = ok.volume / ok.true_volume
            k = np.median(ratio)
            devs[export].append(float(np.max(np.abs(ratio / k - 1))))
        out["(a) dilution: largest deviation, 16-bit (worst series)"] = max(devs["raw"]) if devs["raw"] else np.nan
        out["(a) dilution: largest deviation, 8-bit export (worst series)"] = (
            max(devs["inverted8"]) if devs["inverted8"] else np.nan
        )
        # (b) panel ratios
        errs = {"CD9": [], "CD63": []}
        errs8 = []
        for (_, export, _strip), g in m[(m.kind == "panel")].groupby(["blot", "export", "strip"]):
            marker = g.marker.iloc[0]
            if marker not in errs:
                continue
            g = g.sort_values("lane")
            ref = g.iloc[0]
            for r in g.iloc[1:].itertuples():
                e = abs((r.volume / ref.volume) / (r.true_volume / ref.true_volume) - 1)
                (errs[marker] if export == "raw" else errs8).append(e)
        allraw = errs["CD9"] + errs["CD63"]
        out["(b) panel: median |EV/lysate ratio error|, 16-bit"] = float(np.median(allraw)) if allraw else np.nan
        out["(b)   CD9 (sharp) median, 16-bit"] = float(np.median(errs["CD9"])) if errs["CD9"] else np.nan
        out["(b)   CD63 (smear) median, 16-bit"] = float(np.median(errs["CD63"])) if errs["CD63"] else np.nan
        out["(b)   worst single ratio, 16-bit"] = float(np.max(allraw)) if allraw else np.nan
        out["(b) panel: median |ratio error|, 8-bit export"] = float(np.median(errs8)) if errs8 else np.nan
        # (c) present/absent
        # true volume in the measured image's units, over the quantified central part of the lane
        expected = m.true_volume * m.gain * m.scale.fillna(0.65)
        # a band in a lane that was not found has no LoD of its own: use its image's median LoD
        lod = m.lod.fillna(m.groupby("blot").lod.transform("median")).fillna(0.0)
        absent = ~m.present
        clear = m.present & (m.saturated | (expected >= 2 * lod))
        scored = absent | clear
        correct = (absent & ~m.present_call) | (clear & m.present_call)
        out["(c) present/absent correct (scored bands)"] = float(correct[scored].mean())
        for export in ("raw", "inverted8"):
            sel = scored & (m.export == export)
            out[f"(c)   {'16-bit' if export == 'raw' else '8-bit export'}"] = float(correct[sel].mean())
        # the same against the information the image holds (visible_in_export; == present for 16-bit)
        # a band is clear when the signal the export keeps (export_signal_share of it) is >= 2 x LoD
        seen = m.visible_in_export.astype(bool)
        clear_seen = seen & (m.saturated | (expected * m.export_signal_share >= 2 * lod))
        scored_seen = ~seen | clear_seen
        correct_seen = (~seen & ~m.present_call) | (clear_seen & m.present_call)
        sel = scored_seen & (m.export == "inverted8")
        out["(c)   8-bit export vs information in the export"] = float(correct_seen[sel].mean())
        out["(c)   8-bit: present bands the export does not show"] = int(
            (m.present & ~seen & (m.export == "inverted8")).sum()
        )
        cal = m[(m.kind == "panel") & (m.marker == "calnexin") & (m.lane > 1)]
        out["(c)   calnexin absent in EV lanes"] = float((~cal.present_call).mean()) if len(cal) else np.nan
        table[name] = out
        n_wrong = int((~correct & scored).sum())
        # (d) saturation
        tp = int((m.saturated & m.saturated_call).sum())
        fn = int((m.saturated & ~m.saturated_call).sum())
        fp = int((~m.saturated & m.saturated_call).sum())
        out["(d) saturated bands flagged"] = tp / (tp + fn) if tp + fn else np.nan
        out["(d) false saturation flags (count)"] = fp
        # (e) phantoms: reported present bands off every true band, per truth lane
        per_image = m.groupby("blot").agg(
            ph=("phantoms_in_image", "first"), lanes=("lane", "size"), kind=("kind", "first")
        )
        out["(e) phantom bands per lane, all images"] = float(per_image.ph.sum() / per_image.lanes.sum())
        fr = per_image[per_image.kind == "frame"]
        out["(e)   two-membrane frames"] = float(fr.ph.sum() / fr.lanes.sum()) if len(fr) else np.nan
        fm = m[m.kind == "frame"]
        out["(f) two-membrane frames: lanes found (truth lanes)"] = float(fm.found.mean()) if len(fm) else np.nan
        out["bands scored / near LoD (unscored) / lanes missed"] = (
            f"{int(scored.sum())} / {int((~scored).sum())} / {int((~m.found).sum())}"
        )
        out["wrong present/absent calls (count)"] = n_wrong
        out["images that failed"] = failures
        out["time for all images (s)"] = f"{secs:.1f}"
        out["wrong calls vs information in the export (count)"] = int((~correct_seen & scored_seen).sum())
        if n_wrong:
            bad = m[~correct & scored].assign(expected=expected, kept=expected * m.export_signal_share)
            bad = bad[
                [
                    "kind",
                    "export",
                    "strip",
                    "lane",
                    "marker",
                    "true_volume",
                    "expected",
                    "kept",
                    "volume",
                    "lod",
                    "present_call",
                    "found",
                    "visible_in_export",
                ]
            ]
            print(
                f"  [{name}] wrong calls against the physical truth (expected, kept = the part of it the export "
                f"keeps, volume, lod in image units; found = lane found):\n{bad.to_string(index=False)}"
            )

    names = list(table)
    keys = list(table[names[0]])
    width = max(len(k) for k in keys) + 2
    print()
    print("metric".ljust(width) + "".join(n.rjust(24) for n in names) + "   bar")
    bars = {
        "(a) dilution: largest deviation, 16-bit (worst series)": "<= 10 %",
        "(a) dilution: largest deviation, 8-bit export (worst series)": "<= 10 %",
        "(b) panel: median |ratio error|, 8-bit export": "<= 3 %",
        "(c)   8-bit export": "100 %",
        "(c)   8-bit export vs information in the export": "100 % (info truth)",
        "(b) panel: median |EV/lysate ratio error|, 16-bit": "<= 3 %",
        "(c) present/absent correct (scored bands)": "100 %",
        "(c)   calnexin absent in EV lanes": "100 %",
        "(c)   16-bit": "100 %",
        "(d) saturated bands flagged": "100 %",
        "(d) false saturation flags (count)": "0",
        "(e) phantom bands per lane, all images": "<= 5 %",
        "(f) two-membrane frames: lanes found (truth lanes)": "100 %",
    }
    for k in keys:
        cells = []
        for n in names:
            v = table[n][k]
            cells.append((fmt(v) if isinstance(v, float) else str(v)).rjust(24))
        print(k.ljust(width) + "".join(cells) + "   " + bars.get(k, ""))

    # How much of a CD63 smear does a rolled ball eat? Same lanes and windows, three backgrounds.
    eaten: dict[tuple[str, str], list[float]] = {}
    for kind, export, blot, markers in blots:
        if kind != "panel":
            continue
        a = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=markers)
        sa = a.bands[a.bands.marker == "CD63"].volume.to_numpy()
        for method in ("rolling_ball", "rolling_disk"):
            b = quantify_blot(
                blot.image,
                polarity=blot.polarity,
                max_value=blot.max_value,
                markers=markers,
                lanes=a.lanes,
                params=BlotParameters(background=method, rolling_ball_radius_px=50.0),
            )
            sb = b.bands[b.bands.marker == "CD63"].volume.to_numpy()
            if sa.size == sb.size and sa.size:
                eaten.setdefault((method, export), []).extend(1 - sb / sa)
    smear_removed = []
    print("\nShare of a CD63 smear's volume removed by a ball of radius 50 px, relative to the lane-profile")
    print("baseline on the same lanes and windows (median, range over lanes; negative = ball background lower):")
    for (method, export), vals in eaten.items():
        print(
            f"  {method:13s} {export:9s} panels: {100 * np.median(vals):6.1f} %  "
            f"({100 * min(vals):.1f} to {100 * max(vals):.1f} %, {len(vals)} lanes)"
        )
        smear_removed.append(
            dict(
                background=method,
                export=export,
                median_fraction=float(np.median(vals)),
                min_fraction=float(min(vals)),
                max_fraction=float(max(vals)),
                lanes_count=len(vals),
            )
        )
    wide_lane_kept = []
    print("  wide lane (120 px), Gaussian smear sigma 40 px, known volume (8-bit range / 16-bit range):")
    for amp, bg in ((150.0, 20.0), (15000.0, 2000.0)):
        img = np.full((400, 200), bg)
        y = np.arange(400)[:, None]
        img[:, 40:160] += amp * np.exp(-0.5 * ((y - 200) / 40.0) ** 2)
        lanes = lanes_from_ranges([(40, 160)], whole_image_strip(img.shape))
        cells = []
        for method in ("profile", "rolling_ball", "rolling_disk"):
            r = quantify_blot(
                img,
                polarity="bright",
                max_value=1e9,
                lanes=lanes,
                params=BlotParameters(background=method, remove_dust_specks=False),
            )
            true = amp * 40.0 * np.sqrt(2 * np.pi) * (r.bands.x_right_px.iloc[0] - r.bands.x_left_px.iloc[0])
            cells.append(f"{method} keeps {100 * r.bands.volume.max() / true:.1f} %")
            wide_lane_kept.append(
                dict(peak=amp, background_level=bg, background=method, kept_fraction=r.bands.volume.max() / true)
            )
        print(f"    peak {amp:g} on {bg:g}: " + ", ".join(cells))
    return {
        "images_count": len(blots),
        "methods": {n: _with_units(table[n]) for n in names},
        "cd63_smear_removed_by_ball_radius_50_px": smear_removed,
        "wide_lane_smear_kept": wide_lane_kept,
    }


def extra_dilution(first_seed: int, n: int) -> dict | None:
    """(a) on further 8-bit dilution series: the distribution of the worst deviation per series."""
    if n <= 0:
        return None
    devs = []
    for seed in range(first_seed, first_seed + n):
        blot = make_dilution_series(rng=seed, export="inverted8")
        res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers="target")
        m = match(blot, res)
        ok = m[m.found & ~m.saturated_call & (m.volume > m.lod)]
        if len(ok) < 3:
            continue
        ratio = ok.volume / ok.true_volume
        devs.append(float(np.max(np.abs(ratio / np.median(ratio) - 1))))
    devs = np.array(devs)
    print(
        f"\n(a) 8-bit export, {devs.size} further dilution series (seeds {first_seed}..{first_seed + n - 1}), "
        f"exo_vision default: worst {100 * devs.max():.1f} %, median {100 * np.median(devs):.1f} %, "
        f"{int((devs > 0.10).sum())} of {devs.size} series over the 10 % bar"
    )
    return {
        "first_seed": first_seed,
        "series_count": int(devs.size),
        "worst_deviation_fraction": float(devs.max()),
        "median_deviation_fraction": float(np.median(devs)),
        "series_over_10_percent_count": int((devs > 0.10).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per blot kind (default 10)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0; e.g. 50 for unseen seeds)")
    parser.add_argument(
        "--extra-dilution-seeds",
        type=int,
        default=30,
        help="further 8-bit dilution series for (a) (default 30; 0 = none)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    figures = run(args.seeds, args.first_seed)
    extra = extra_dilution(1000, args.extra_dilution_seeds)
    if args.json is not None:
        figures.update(seeds=args.seeds, first_seed=args.first_seed, extra_8_bit_dilution=extra)
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
