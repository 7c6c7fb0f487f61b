"""Whether the shipped networks give the same maps on ARM processors (Apple silicon, ARM laptops) as on this one.

onnxruntime runs other kernels on 64-bit ARM: plain NEON on older cores, the dot-product instructions on newer
ones, the i8mm matrix instructions on the newest. This script runs each shipped network (``ev-unet``, the int8
default, and ``ev-unet-float``) on an ARM build of Python, numpy and onnxruntime under qemu's user-mode
emulator, with qemu playing three processors:

* ``cortex-a72``: NEON only (no dot product), as in a Raspberry Pi 4;
* ``neoverse-n1``: NEON with the dot product, as in Apple M1-class and recent ARM laptops;
* ``max``: qemu's processor with every extension it knows, i8mm included.

It prints, per processor and network, the largest difference from the maps of this machine's own processor and
the fraction of map values that differ. The input is the working-scale image of a generated 2048 x 2048
micrograph at 0.8 nm/px (552 x 552; ``tem_runtime.py`` times the same input). The emulator reproduces each
instruction's result, not its time: this measures agreement, not speed.

onnxruntime reads the processor's model from ``/proc/cpuinfo`` to decide whether it has the dot product, so each
run sees a ``/proc/cpuinfo`` that names the emulated core (bound over the real one in a private mount namespace:
``unshare`` and ``mount``, which need root).

Setup (once; Debian, as root)::

    apt-get install qemu-user-static
    dpkg --add-architecture arm64 && apt-get update

The script then downloads Debian's ARM Python 3.11 and the ARM wheels of the locked numpy and onnxruntime into
``--cache`` (about 60 MB) and runs::

    .venv/bin/python benchmarks/tem_kernels_arm.py [--cache /tmp/exo_vision_arm] [--json PATH]

About five minutes on one core after the downloads. ``--end-to-end`` also runs ``exo-vision tem`` on the two TEM
sample micrographs on the emulated Neoverse N1 and compares the vesicle tables and label images with this
machine's (it installs the ARM wheels of every runtime dependency, about 800 MB, into ``--cache``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_record import write_json

#: Debian's ARM packages that make a working Python 3.11 (extracted, not installed).
DEBIAN_PACKAGES = (
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 zlib1g libexpat1 libffi8 libssl3 "
    "libbz2-1.0 liblzma5 libsqlite3-0 libstdc++6 libgcc-s1 libncursesw6 libtinfo6 libreadline8 libuuid1 "
    "libcrypt1 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 "
    "libkeyutils1 libdb5.3 libgdbm6"
).split()

#: Locked distributions the ARM child needs (numpy, onnxruntime and what onnxruntime imports).
WHEELS = ("numpy", "onnxruntime", "flatbuffers", "protobuf", "packaging", "sympy", "mpmath")

#: Emulated processors: qemu's name, the core's part number (MIDR) and the kernel's feature flags for /proc/cpuinfo.
PROCESSORS = {
    "cortex-a72": ("0xd08", "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
    "neoverse-n1": (
        "0xd0c",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
    ),
    "max": (
        "0xd0c",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm bf16",
    ),
}

#: The ARM child: one pass of a network on a saved input, maps saved.
CHILD = """
import sys
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], sess_options=options, providers=["CPUExecutionProvider"])
np.save(sys.argv[3], session.run(None, {session.get_inputs()[0].name: np.load(sys.argv[2])})[0])
"""

REPO = Path(__file__).resolve().parents[1]

#: The TEM sample micrographs run end to end with ``--end-to-end``.
SAMPLES = ("hrml_ev_negative_stain.jpg", "tem_medium_0.8nm.tif")


def _need(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"tem_kernels_arm.py: {message}")


def runtime_requirements() -> list[str]:
    """exo_vision's own runtime requirements (no extras), as its installed metadata lists them."""
    from importlib import metadata

    return [r.split(";")[0].strip() for r in metadata.requires("exo_vision") or [] if "extra ==" not in r]


def prepare(cache: Path, *, full: bool) -> tuple[Path, Path]:
    """Debian's ARM Python extracted into ``cache/root``, and the locked ARM wheels into ``cache/site``
    (numpy and onnxruntime) or, with ``full``, into ``cache/site_full`` (everything exo_vision needs to run)."""
    from exo_vision.environment import LOCK_FILE, read_lock

    root, site = cache / "root", cache / ("site_full" if full else "site")
    if not (root / "usr" / "bin" / "python3.11").is_file():
        foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
        _need("arm64" in foreign.split(), "run `dpkg --add-architecture arm64 && apt-get update` first (as root)")
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for name in DEBIAN_PACKAGES:
            subprocess.run(["apt-get", "download", f"{name}:arm64"], cwd=debs, check=True, capture_output=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    if not (site / "onnxruntime").is_dir():
        pins = read_lock(LOCK_FILE)
        platforms = [a for p in ("manylinux2014_aarch64", "manylinux_2_28_aarch64") for a in ("--platform", p)]
        command = [sys.executable, "-m", "pip", "install", "-q", "--target", str(site), *platforms]
        command += ["--python-version", "3.11", "--implementation", "cp", "--only-binary=:all:"]
        if full:
            command += ["-c", str(LOCK_FILE), *runtime_requirements()]
        else:
            command += [f"{name}=={pins[name]}" for name in WHEELS]
        subprocess.run(command, check=True)
    return root, site


def run_arm(processor: str, arguments: list[str], *, root: Path, site: Path, tmp: Path) -> None:
    """Run ARM Python with ``arguments`` on the emulated ``processor``, from the repository's folder."""
    part, features = PROCESSORS[processor]
    cpuinfo = tmp / f"cpuinfo_{processor}"
    block = f"BogoMIPS\t: 50.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    block += f"CPU variant\t: 0x0\nCPU part\t: {part}\nCPU revision\t: 1\n\n"
    cpuinfo.write_text("".join(f"processor\t: {i}\n{block}" for i in range(2)))
    python = f"qemu-aarch64-static -cpu {processor} -L {root} {root}/usr/bin/python3.11"
    script = f"mount --bind {cpuinfo} /proc/cpuinfo && PYTHONPATH={site}:{REPO} {python} {shlex.join(arguments)}"
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{processor}: {' '.join(arguments)} failed: {done.stderr[-1000:]}")


def arm_maps(processor: str, model: Path, x_file: Path, out: Path, *, root: Path, site: Path, tmp: Path) -> np.ndarray:
    """The network's maps computed by ARM onnxruntime on the emulated ``processor``."""
    child = tmp / "child.py"
    child.write_text(CHILD)
    run_arm(processor, [str(child), str(model), str(x_file), str(out)], root=root, site=site, tmp=tmp)
    return np.load(out)


def end_to_end(root: Path, site: Path, tmp: Path) -> list[dict]:
    """``exo-vision tem`` on both TEM sample micrographs here and on the emulated Neoverse N1: how the tables differ."""
    import pandas as pd
    import tifffile

    # one worker: without binfmt_misc a worker process would start the ARM interpreter outside qemu
    command = [
        "-m",
        "exo_vision.cli.main",
        "tem",
        *(str(REPO / "sample_images" / s) for s in SAMPLES),
        "--workers",
        "1",
    ]
    subprocess.run([sys.executable, *command, "--out", str(tmp / "native")], check=True, capture_output=True, cwd=REPO)
    run_arm("neoverse-n1", [*command, "--out", str(tmp / "arm")], root=root, site=site, tmp=tmp)
    rows = []
    for sample in SAMPLES:
        stem = Path(sample).stem
        here, arm = (pd.read_csv(tmp / side / f"{stem}_vesicles.csv") for side in ("native", "arm"))
        labels = [tifffile.imread(tmp / side / f"{stem}_labels.tif") for side in ("native", "arm")]
        same = len(here) == len(arm)
        diameter = (here.equivalent_diameter_nm - arm.equivalent_diameter_nm).abs() if same else pd.Series([np.nan])
        rows.append(
            {
                "image": stem,
                "vesicles_here_count": len(here),
                "vesicles_arm_count": len(arm),
                "identical_table": (tmp / "native" / f"{stem}_vesicles.csv").read_bytes()
                == (tmp / "arm" / f"{stem}_vesicles.csv").read_bytes(),
                "label_pixels_differing_count": int((labels[0] != labels[1]).sum()),
                "label_pixels_count": int(labels[0].size),
                "max_abs_diameter_difference_nm": float(diameter.max()),
                "max_relative_diameter_difference_pct": float((100 * diameter / here.equivalent_diameter_nm).max())
                if same
                else float("nan"),
                "same_morphology": bool(same and (here.morphology == arm.morphology).all()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "exo_vision_arm")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="also run `exo-vision tem` on the two TEM sample micrographs on the emulated Neoverse N1 and compare the "
        "vesicle tables (installs every runtime dependency's ARM wheel, about 800 MB, and takes a few minutes more)",
    )
    args = parser.parse_args()
    for tool in ("qemu-aarch64-static", "unshare", "mount", "apt-get", "dpkg-deb"):
        _need(shutil.which(tool) is not None, f"{tool} is not on the PATH (Debian: apt-get install qemu-user-static)")
    _need(os.geteuid() == 0, "needs root (a private mount namespace shows the emulated core in /proc/cpuinfo)")
    from tem_runtime import network_input

    from exo_vision.segmentation.learned.runtime import _session
    from exo_vision.segmentation.learned.weights import load_card

    root, site = prepare(args.cache, full=False)
    x = network_input(load_card())
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        x_file = tmp / "x.npy"
        np.save(x_file, x)
        print(f"input {x.shape[2]}x{x.shape[3]} working-scale pixels; ARM onnxruntime under qemu against this machine")
        for model in ("ev-unet", "ev-unet-float"):
            card = load_card(model)
            session = _session(str(card.onnx_path), card.sha256, 1)
            native = session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float64)
            for processor in PROCESSORS:
                maps = arm_maps(processor, card.onnx_path, x_file, tmp / "out.npy", root=root, site=site, tmp=tmp)
                diff = np.abs(maps - native)
                rows.append(
                    {
                        "model": model,
                        "processor": processor,
                        "max_abs_map_difference": float(diff.max()),
                        "map_values_differing_fraction": float((diff > 0).mean()),
                    }
                )
                print(
                    f"{model:<14} {processor:<12} max |ARM - native| {rows[-1]['max_abs_map_difference']:.2e}"
                    f"  values differing {rows[-1]['map_values_differing_fraction']:.4f}"
                )
        whole = []
        if args.end_to_end:
            whole = end_to_end(root, prepare(args.cache, full=True)[1], tmp)
            for row in whole:
                print(
                    f"exo-vision tem {row['image']}: vesicles {row['vesicles_here_count']} here,"
                    f" {row['vesicles_arm_count']} on ARM; table identical {row['identical_table']};"
                    f" label pixels differing {row['label_pixels_differing_count']} of {row['label_pixels_count']};"
                    f" diameters within {row['max_abs_diameter_difference_nm']:.4f} nm"
                    f" ({row['max_relative_diameter_difference_pct']:.3f} %); same morphology {row['same_morphology']}"
                )
    if args.json is not None:
        figures = {"input_side_px": int(x.shape[-1]), "comparisons": rows, "end_to_end": whole}
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
