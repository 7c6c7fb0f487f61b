"""Mutation fuzzing of the readers and the CLI entry points.

Shared by tests/hostile/test_fuzz.py and benchmarks/fuzz.py.

A *case* is a seed file from a small corpus (every reader family) damaged by
one mutation (truncation, byte flips, zeroed header, extreme integers, a
spliced block, a wrong extension), or a random array written with a random
(possibly absurd) calibration, run through one target: ``read_image``,
``exo-vision info``, ``exo-vision tem`` or ``exo-vision blot``.

The invariant: a result, or a message that names the file; never a
traceback, a hang (a timeout per case), a write outside ``--out`` or a
changed input. Each case runs in a worker process the parent kills when it
overruns its timeout, so a hang in compiled code is caught too.

Outcomes: ``result`` and ``message`` are good; ``traceback`` (an exception
escaped, or exit status 3 = unexpected error), ``unnamed`` (a message that
does not name the file), ``hang``, ``crash`` (the worker died), ``outside``
(a file written outside ``--out``) and ``input_changed`` are failures.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_FORMATS = REPO.parent / "shared" / "data" / "formats"

GOOD_OUTCOMES = ("result", "message")
BAD_OUTCOMES = ("traceback", "unnamed", "hang", "crash", "outside", "input_changed")
MUTATIONS = ("none", "truncate", "flip", "zero_header", "extreme_int", "splice", "wrong_ext")
TARGETS = ("read", "info", "tem", "blot")
#: Seconds a case may take before it counts as a hang.
TIMEOUT_S = {"read": 20.0, "info": 20.0, "tem": 60.0, "blot": 60.0}
#: Decoded-size limit used in fuzz cases (million values): enforcement is what is tested.
FUZZ_MAX_MEGAPIXELS = 16.0
WRONG_SUFFIXES = (".tif", ".png", ".jpg", ".dm3", ".dm4", ".mrc", ".emd", ".ser", ".scn", ".bmp", ".txt")

#: Small real fixtures used when ../shared/data is present (path relative to formats/).
EXTERNAL_SEEDS = (
    "ncempy/dmTest_float32_nonSquare_diffPixelSize.dm3",
    "ncempy/dmTest_float32_nonSquare_diffPixelSize.dm4",
    "ncempy/temp.mrc",
    "ncempy/Camera Ceta Imaging Micro.emd",
    "rosettasciio/digitalmicrograph/2D/test-1.dm3",
    "rosettasciio/digitalmicrograph/2D/test-23.dm4",
    "rosettasciio/digitalmicrograph/2D/test_STEM_image.dm3",
    "rosettasciio/tiff/test_loading_image_saved_with_imageJ.tif",
    "rosettasciio/tiff/test_loading_image_saved_with_DM.tif",
    "rosettasciio/tiff/olympus_SIS.tif",
)


@dataclass(frozen=True)
class Case:
    """One fuzz case (JSON-friendly, so that a failure can be replayed).

    Attributes
    ----------
    seed : str
        Seed file name in the corpus folder, or ``"array"`` for a random array.
    mutation : str
        One of :data:`MUTATIONS`.
    rng_seed : int
        Seed of the mutation (or of the array).
    target : str
        One of :data:`TARGETS`.
    variant : int
        Picks extra command-line options.
    """

    seed: str
    mutation: str
    rng_seed: int
    target: str
    variant: int = 0


# --------------------------------------------------------------------------- corpus


def build_corpus(folder: Path) -> list[str]:
    """Write the seed files into ``folder``; return their names (external fixtures copied when present)."""
    import mrcfile
    import tifffile
    from PIL import Image

    from exo_vision.synthetic.scn import write_scn
    from exo_vision.synthetic.tem import make_synthetic_tem

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tem, _ = make_synthetic_tem((192, 192), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=1)
    tifffile.imwrite(folder / "imagej_tem.tif", tem, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    tifffile.imwrite(folder / "plain_u8.tif", rng.integers(0, 255, (96, 96), dtype=np.uint8))
    tifffile.imwrite(
        folder / "ome.ome.tif", tem[:128, :128], ome=True, metadata={"PhysicalSizeX": 0.001, "PhysicalSizeY": 0.001}
    )
    tifffile.imwrite(
        folder / "deflate_stack.tif", np.stack([tem[:96, :96]] * 3), compression="zlib", photometric="minisblack"
    )
    tifffile.imwrite(folder / "dpi_export.tif", tem[:128, :128], resolution=(300, 300), resolutionunit="INCH")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "colour.png")
    Image.fromarray((tem[:128, :128] // 256).astype(np.uint8)).save(folder / "gray.png")
    Image.fromarray((tem[:128, :128] // 256).astype(np.uint8)).save(folder / "gray.jpg", quality=90)
    Image.fromarray((tem[:64, :64] // 256).astype(np.uint8)).save(folder / "gray.bmp")
    with mrcfile.new(folder / "stack.mrc", overwrite=True) as mrc:
        mrc.set_data(np.stack([tem[:96, :96].astype(np.float32)] * 2))
        mrc.voxel_size = 10.0
    blot = rng.integers(500, 900, (120, 160)).astype(np.uint16)
    for lane in range(4):
        blot[50:62, 20 + 35 * lane : 45 + 35 * lane] += np.uint16(3000 * (lane + 1))
    tifffile.imwrite(folder / "western_blot.tif", blot)
    write_scn(folder / "chemidoc.scn", blot)
    names = sorted(p.name for p in folder.iterdir())
    if SHARED_FORMATS.is_dir():
        for rel in EXTERNAL_SEEDS:
            source = SHARED_FORMATS / rel
            if source.is_file():
                name = "ext_" + source.name.replace(" ", "_")
                shutil.copy(source, folder / name)
                names.append(name)
    return names


# --------------------------------------------------------------------------- mutations


def mutate(data: bytes, mutation: str, rng: np.random.Generator) -> bytes:
    """Damage ``data`` with one mutation (``wrong_ext`` keeps the bytes: the caller renames)."""
    buf = bytearray(data)
    n = len(buf)
    if mutation in ("none", "wrong_ext") or n == 0:
        return bytes(buf)
    if mutation == "truncate":
        return bytes(buf[: int(rng.integers(0, n))])
    if mutation == "flip":
        for _ in range(int(rng.integers(1, 17))):
            # Headers hold the interesting fields: half the flips land in the first 1 KB.
            pos = int(rng.integers(0, min(n, 1024))) if rng.random() < 0.5 else int(rng.integers(0, n))
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        return bytes(buf)
    if mutation == "zero_header":
        k = int(rng.integers(1, min(n, 512) + 1))
        buf[:k] = bytes(k)
        return bytes(buf)
    if mutation == "extreme_int":
        values = (0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0x10000)
        for _ in range(int(rng.integers(1, 5))):
            pos = int(rng.integers(0, max(1, min(n, 2048) - 4)))
            value = int(values[int(rng.integers(0, len(values)))])
            order = "little" if rng.random() < 0.5 else "big"
            buf[pos : pos + 4] = value.to_bytes(4, order)
        return bytes(buf[:n])
    if mutation == "splice":
        a, b = sorted(int(v) for v in rng.integers(0, n, 2))
        c = int(rng.integers(0, n))
        return bytes(buf[:c] + buf[a:b] + buf[c:])
    raise ValueError(f"unknown mutation {mutation!r}")


def write_random_array(folder: Path, rng: np.random.Generator) -> Path:
    """A random array as TIFF/PNG/MRC with a random, possibly absurd, calibration."""
    import mrcfile
    import tifffile
    from PIL import Image

    dtypes = (np.uint8, np.uint16, np.int16, np.float32, np.float64, np.uint32, bool)
    dtype = dtypes[int(rng.integers(0, len(dtypes)))]
    shape = tuple(int(v) for v in rng.choice([1, 2, 7, 8, 16, 64, 200], size=int(rng.integers(2, 4))))
    kind = int(rng.integers(0, 5))
    if kind == 0:
        array = np.zeros(shape)
    elif kind == 1:
        array = rng.normal(100, 30, shape)
    elif kind == 2:
        array = rng.normal(0, 1, shape)
        array[rng.random(shape) < 0.3] = np.nan
    elif kind == 3:
        array = rng.normal(0, 1, shape) * 1e30
        array[rng.random(shape) < 0.1] = np.inf
    else:
        array = rng.integers(0, 2**16, shape).astype(float)
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype is bool:
            data = array > np.nanmean(array) if np.isfinite(array).any() else np.zeros(shape, bool)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = np.clip(np.nan_to_num(array), info.min, info.max).astype(dtype)
        else:
            data = array.astype(dtype)
    pixel = float(rng.choice([1e-9, 1e-6, 1e-3, 0.3, 1.0, 2.0, 49.0, 1e4, 1e12, -1.0, 0.0, np.nan, np.inf]))
    fmt = int(rng.integers(0, 3))
    if fmt == 0:
        path = folder / "array.tif"
        unit = str(rng.choice(["nm", "micron", "inch", "1/nm", "furlong", ""]))
        with np.errstate(all="ignore"):
            resolution = (1.0 / pixel, 1.0 / pixel) if pixel not in (0.0,) and np.isfinite(pixel) else (1.0, 1.0)
        try:
            tifffile.imwrite(
                path,
                data,
                imagej=data.dtype not in (np.float64, bool) and data.ndim <= 3,
                resolution=resolution,
                metadata={"unit": unit},
            )
        except Exception:  # noqa: BLE001 - tifffile refuses some combinations: write it plainly
            tifffile.imwrite(path, data)
        return path
    if fmt == 1 and data.ndim == 2 and data.dtype in (np.uint8, np.uint16, bool):
        path = folder / "array.png"
        Image.fromarray(data.astype(np.uint8) if data.dtype == bool else data).save(path)
        return path
    path = folder / "array.mrc"
    mrc_data = data.astype(np.float32) if data.dtype not in (np.int16, np.uint8, np.uint16, np.float32) else data
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(mrc_data)
        if np.isfinite(pixel):
            mrc.voxel_size = pixel * 10.0
    return path


# --------------------------------------------------------------------------- one case (in the worker)


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def prepare_case(case: Case, corpus: Path, work: Path) -> Path:
    """Write the case's input file into ``work/in``; return it."""
    rng = np.random.default_rng(case.rng_seed)
    in_dir = work / "in"
    in_dir.mkdir(parents=True)
    if case.seed == "array":
        return write_random_array(in_dir, rng)
    source = corpus / case.seed
    data = mutate(source.read_bytes(), case.mutation, rng)
    name = source.name
    if case.mutation == "wrong_ext":
        name = Path(name).stem.split(".")[0] + WRONG_SUFFIXES[int(rng.integers(0, len(WRONG_SUFFIXES)))]
    path = in_dir / name
    path.write_bytes(data)
    return path


def run_case(case: Case, corpus: Path, work: Path) -> tuple[str, str]:
    """Run one case in this process; return ``(outcome, detail)``."""
    from exo_vision.cli.main import main
    from exo_vision.io import ImageReadError, read_image

    if case.target == "_sleep":  # for testing the harness's timeout
        import time

        time.sleep(case.variant)
        return "result", ""
    if work.exists():
        shutil.rmtree(work)
    path = prepare_case(case, corpus, work)
    before = _snapshot(work)
    out = work / "out"
    name = path.name
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    stdout = io.StringIO()
    outcome, detail = "result", ""
    try:
        with contextlib.redirect_stdout(stdout):
            if case.target == "read":
                kinds = ("auto", "tem", "blot")
                try:
                    read_image(
                        path,
                        kind=kinds[case.variant % 3],
                        frame=None if case.variant % 2 else 0,
                        max_megapixels=FUZZ_MAX_MEGAPIXELS,
                    )
                except (ImageReadError, ValueError) as err:
                    outcome, detail = ("message", str(err)) if name in str(err) else ("unnamed", str(err))
            else:
                extra = ["--max-megapixels", str(FUZZ_MAX_MEGAPIXELS)]
                if case.target == "info":
                    argv = ["info", str(path), *extra]
                elif case.target == "tem":
                    argv = ["tem", str(path), "--out", str(out), "--workers", "1", *extra]
                    argv += (["--pixel-size-nm", "1"], ["--no-scale-bar"], [], ["--frame", "0"])[case.variant % 4]
                else:
                    argv = ["blot", str(path), "--out", str(out), *extra]
                    argv += (["--lanes", "4"], [], ["--marker", "CD9", "--lane-names", "lysate,b,c,d"])[
                        case.variant % 3
                    ]
                rc = main(argv)
                if rc == 3:
                    outcome, detail = "traceback", " | ".join(collect.messages)
                elif rc != 0:
                    outcome, detail = _check_message(case.target, rc, name, stdout.getvalue(), out, collect.messages)
    except BaseException as err:  # noqa: BLE001 - this is what the fuzzer looks for
        outcome, detail = "traceback", "".join(traceback.format_exception(err))[-2000:]
    finally:
        root.removeHandler(collect)
    after = _snapshot(work)
    for rel in after:
        if rel not in before and not rel.startswith("out" + os.sep) and rel != "out":
            return "outside", f"wrote {rel}"
    for rel, digest in before.items():
        if after.get(rel) != digest:
            return "input_changed", f"{rel} changed"
    return outcome, detail


def _check_message(target: str, rc: int, name: str, stdout: str, out: Path, logs: list[str]) -> tuple[str, str]:
    """Whether a non-zero exit came with a message naming the file."""
    text = " ".join(logs)
    if target == "info":
        records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        text += " ".join(r.get("error", "") for r in records)
    elif target == "tem" and (out / "errors.csv").is_file():
        text += (out / "errors.csv").read_text(encoding="utf-8")
    elif target == "blot" and (out / "run.json").is_file():
        text += json.dumps(json.loads((out / "run.json").read_text(encoding="utf-8"))["errors"], ensure_ascii=False)
    return ("message", text[:300]) if name in text else ("unnamed", f"exit {rc}: {text[:300]}")


# --------------------------------------------------------------------------- worker process and runner


def _worker(conn: Any, corpus: str, work: str) -> None:
    logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
    logging.getLogger().setLevel(logging.WARNING)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the worker's chatter is not the result
    while True:
        message = conn.recv()
        if message is None:
            return
        case = Case(**message)
        conn.send(run_case(case, Path(corpus), Path(work)))


class CaseRunner:
    """Runs cases in a worker process, with a timeout per case (a killed worker is replaced)."""

    def __init__(self, corpus: Path, work: Path) -> None:
        self.corpus, self.work = Path(corpus), Path(work)
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None
        self._fresh = False

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_worker, args=(child, str(self.corpus), str(self.work)), daemon=True
        )
        self._process.start()
        self._conn = parent
        self._fresh = True

    def run(self, case: Case, timeout_s: float | None = None) -> tuple[str, str]:
        """``(outcome, detail)`` of one case."""
        if self._process is None or not self._process.is_alive():
            self._start()
        timeout = TIMEOUT_S.get(case.target, 20.0) if timeout_s is None else timeout_s
        self._conn.send(asdict(case))
        grace = 60.0 if self._fresh else 0.0  # a new worker first imports numpy, OpenCV, tifffile...
        self._fresh = False
        if self._conn.poll(timeout + grace):
            try:
                return self._conn.recv()
            except (EOFError, OSError):
                pass
        else:
            self._kill()
            return "hang", f"no answer within {timeout:g} s"
        self._kill()
        return "crash", f"worker exit code {self._process.exitcode}"

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(10)
        self._process = None

    def close(self) -> None:
        """Stop the worker."""
        if self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(10)
            except (BrokenPipeError, OSError):
                pass
            self._kill()
        if self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> CaseRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def random_case(rng: np.random.Generator, seeds: list[str], *, weights: dict[str, float] | None = None) -> Case:
    """A case drawn with ``rng`` (used by benchmarks/fuzz.py)."""
    weights = weights or {"read": 0.5, "info": 0.25, "tem": 0.15, "blot": 0.10}
    targets = list(weights)
    p = np.array([weights[t] for t in targets], dtype=float)
    target = targets[int(rng.choice(len(targets), p=p / p.sum()))]
    if rng.random() < 0.1:
        seed, mutation = "array", "none"
    else:
        seed = seeds[int(rng.integers(0, len(seeds)))]
        mutation = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
    return Case(
        seed=seed,
        mutation=mutation,
        rng_seed=int(rng.integers(0, 2**31)),
        target=target,
        variant=int(rng.integers(0, 12)),
    )
