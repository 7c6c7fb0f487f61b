"""How much work each shipped network is on a processor without AVX-512 or VNNI (instructions, not seconds).

onnxruntime picks its CPU kernels from the processor's features when it starts. This machine has AVX-512
and VNNI, on which the int8 default is faster than the float network (``tem_runtime.py``,
``tem_speed.py``). Many laptops have neither, only AVX2 and FMA, and there onnxruntime runs other integer
kernels. valgrind presents the program with a processor that has AVX2 and FMA but no AVX-512 and no VNNI,
so under valgrind onnxruntime takes exactly that path. This script counts, with valgrind's callgrind tool,
the instructions one network pass costs on that path for the int8 default (``ev-unet``) and for the float
network (``ev-unet-float``), on the working-scale image a 2048 x 2048 micrograph at 0.8 nm/px becomes
(552 x 552 after padding; ``tem_runtime.py`` times the same input). It also prints the processor features
numpy reads on each side, to show which path was taken, and how far each network's maps on that path lie from
its maps on this machine's own path (the int8 network's weights keep 7 bits of range so that processors without
VNNI compute the same integers: the models' README).

Instruction counts are repeatable (the same binary and input give the same count) but they are not time:
an int8 kernel on AVX2 uses about three instructions for 32 multiply-adds where a float FMA does 8 in one,
and the two kinds of instruction do not cost the same cycles. Read the ratio as the work each network asks
of such a processor, not as its speed.

Usage::

    .venv/bin/python benchmarks/tem_runtime_isa.py [--passes 1] [--json results/tem_runtime_isa.json]

Needs ``valgrind`` on the PATH (Debian: ``apt-get install valgrind``). callgrind runs the network a few
thousand times slower than the processor does: with one counted pass, about half an hour on one core.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_record import write_json

#: The shipped networks compared, by the name ``load_card`` takes.
MODELS = ("ev-unet", "ev-unet-float")

#: Processor features printed, as numpy names them.
FEATURES = ("AVX2", "FMA3", "AVX512F", "AVX512_SKX", "AVX512VNNI")


def cpu_features() -> dict[str, bool]:
    """The processor features numpy detected when it started (``FEATURES`` only)."""
    from numpy._core._multiarray_umath import __cpu_features__

    return {name: bool(__cpu_features__.get(name, False)) for name in FEATURES}


def child(model: str, passes: int, input_file: Path, save: Path | None) -> None:
    """Load ``model``, run one warm-up pass and then ``passes`` more on the saved input; report as JSON.

    With ``save`` the network's maps of the last pass are written there (``.npy``).
    """
    from exo_vision.segmentation.learned.runtime import _session
    from exo_vision.segmentation.learned.weights import load_card

    card = load_card(model)
    session = _session(str(card.onnx_path), card.sha256, 1)
    x = np.load(input_file)
    name = session.get_inputs()[0].name
    maps = session.run(None, {name: x})[0]
    start = time.perf_counter()
    for _ in range(passes):
        maps = session.run(None, {name: x})[0]
    if save is not None:
        np.save(save, maps)
    seconds = (time.perf_counter() - start) / max(passes, 1)
    sys.stdout.write(json.dumps({"features": cpu_features(), "seconds_per_pass": seconds}) + "\n")


def run_child(
    model: str, passes: int, input_file: Path, *, valgrind: str | None, out: Path
) -> tuple[dict, int, np.ndarray]:
    """Run :func:`child` in a new process (under callgrind when ``valgrind`` is given).

    Returns the child's report, the instructions callgrind collected (0 without valgrind) and the maps.
    """
    save = out.with_suffix(".npy")
    command = [sys.executable, __file__, "--child", model, "--passes", str(passes), "--input", str(input_file)]
    command += ["--save", str(save)]
    if valgrind is not None:
        command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    found = re.findall(r"Collected\s*:\s*(\d+)", done.stderr)
    return report, int(found[-1]) if found else 0, np.load(save)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=1, help="network passes counted after the warm-up (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.passes, args.input, args.save)
        return
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    from tem_runtime import network_input  # imports cv2 and the generator: only the parent needs them

    from exo_vision.segmentation.learned.weights import load_card

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("tem_runtime_isa.py: valgrind is not on the PATH; install it (Debian: apt-get install valgrind)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        input_file = Path(tmp) / "x.npy"
        x = network_input(load_card())
        np.save(input_file, x)
        print(f"input {x.shape[2]}x{x.shape[3]} working-scale pixels; {args.passes} counted passes after a warm-up")
        for model in MODELS:
            native, _, native_maps = run_child(model, args.passes, input_file, valgrind=None, out=Path(tmp) / "native")
            base_report, base, _ = run_child(model, 0, input_file, valgrind=valgrind, out=Path(tmp) / f"{model}.0")
            _, total, avx2_maps = run_child(
                model, args.passes, input_file, valgrind=valgrind, out=Path(tmp) / f"{model}.n"
            )
            diff = np.abs(native_maps.astype(np.float64) - avx2_maps)
            rows.append(
                {
                    "model": model,
                    "instructions_per_pass_avx2_count": (total - base) / args.passes,
                    "native_seconds_per_pass": native["seconds_per_pass"],
                    "max_abs_map_difference": float(diff.max()),
                    "map_values_differing_fraction": float((diff > 0).mean()),
                    "native_features": native["features"],
                    "valgrind_features": base_report["features"],
                }
            )
    shown = ", ".join(k for k, v in rows[0]["valgrind_features"].items() if v) or "none"
    native_shown = ", ".join(k for k, v in rows[0]["native_features"].items() if v) or "none"
    print(f"processor features seen natively: {native_shown}; under valgrind: {shown}")
    print(
        f"{'model':<14} {'instructions per pass (AVX2 path)':>34} {'native s per pass':>18}"
        f" {'maps: max |AVX2 - native|':>26} {'values differing':>17}"
    )
    for row in rows:
        print(
            f"{row['model']:<14} {row['instructions_per_pass_avx2_count'] / 1e6:>32.0f} M"
            f" {row['native_seconds_per_pass']:>18.3f} {row['max_abs_map_difference']:>26.2e}"
            f" {row['map_values_differing_fraction']:>17.4f}"
        )
    ratio = rows[0]["instructions_per_pass_avx2_count"] / rows[1]["instructions_per_pass_avx2_count"]
    print(f"int8 / float instructions on the AVX2 path: {ratio:.2f} (instructions, not seconds: see the docstring)")
    if args.json is not None:
        write_json(args.json, {"passes_count": args.passes, "int8_over_float_instructions": ratio, "models": rows})


if __name__ == "__main__":
    main()
