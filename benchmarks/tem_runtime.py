"""Which runtime runs the learned segmenter's network fastest on the CPU: onnxruntime or OpenCV's dnn.

Times the shipped model (``ev-unet``) on a normalised working-scale image of the size a 2048² micrograph at
0.8 nm/px becomes (552² after padding), on one and two threads, and checks that both runtimes agree.

Usage::

    .venv/bin/python benchmarks/tem_runtime.py [--repeats 7] [--json results/tem_runtime.json]

It times the network alone, not a segmentation method, so it takes no ``--method``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from bench_record import write_json

from exo_vision.segmentation.learned.network_input import normalise_for_network, to_working_scale
from exo_vision.segmentation.learned.runtime import _session
from exo_vision.segmentation.learned.weights import ModelCard, load_card
from exo_vision.synthetic.tem import make_synthetic_tem


def _time(run, repeats: int) -> tuple[float, np.ndarray]:
    out = run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def network_input(card: ModelCard) -> np.ndarray:
    """The padded working-scale input of a generated 2048 x 2048 micrograph at 0.8 nm/px (float32, NCHW)."""
    image, _ = make_synthetic_tem((2048, 2048), pixel_size_nm=0.8, difficulty="medium", rng=1)
    small = normalise_for_network(to_working_scale(image, pixel_size_nm=0.8, working_scale_nm=card.working_scale_nm))
    side = -(-max(small.shape) // card.multiple_of) * card.multiple_of
    x = np.zeros((1, 1, side, side), np.float32)
    x[0, 0, : small.shape[0], : small.shape[1]] = small
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    card = load_card()
    x = network_input(card)
    side = x.shape[-1]
    load = os.getloadavg()[0]
    print(f"model {card.name} {card.version}, input {side}x{side}, load average {load:.1f}")
    results = {}
    for threads in (1, 2):
        session = _session(str(card.onnx_path), card.sha256, threads)
        t, out = _time(lambda session=session: session.run(None, {"image": x})[0], args.repeats)
        results[("onnxruntime", threads)] = (t, out)
        cv2.setNumThreads(threads)
        net = cv2.dnn.readNetFromONNX(str(card.onnx_path))

        def run_cv2(net=net) -> np.ndarray:
            net.setInput(x)
            return net.forward()

        try:
            t2, out2 = _time(run_cv2, args.repeats)
            results[("opencv dnn", threads)] = (t2, out2)
        except cv2.error as err:
            print(f"opencv dnn cannot run the model: {str(err).splitlines()[-1]}")
    reference = results[("onnxruntime", 1)][1]
    print(f"{'runtime':<12} {'threads':>7} {'median s':>9} {'max |diff|':>11}")
    rows = []
    for (name, threads), (t, out) in results.items():
        diff = float(np.abs(out - reference).max())
        print(f"{name:<12} {threads:>7} {t:9.3f} {diff:11.2e}")
        rows.append(
            {"runtime": name, "threads_count": threads, "median_s": t, "max_abs_diff_vs_onnxruntime_1_thread": diff}
        )
    if args.json is not None:
        figures = {
            "model": f"{card.name} {card.version}",
            "input_side_px": side,
            "repeats_count": args.repeats,
            "load_average": load,
            "runtimes": rows,
        }
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
