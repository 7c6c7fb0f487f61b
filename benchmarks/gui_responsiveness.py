"""How responsive the napari viewer stays while the segmentation widget works on a 4096x4096 micrograph.

A QTimer ticks every 10 ms on the Qt event loop; the longest gap between ticks is how long
the GUI was frozen. Printed: the longest gap while the worker computes (bar: <= 200 ms), the
gap when the result is put on screen, and the time to result.

Run headless with:  xvfb-run -a .venv/bin/python benchmarks/gui_responsiveness.py [--size 4096]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image edge in pixels (default 4096)")
    parser.add_argument("--runs", type=int, default=2, help="runs on the same image (the first is cold)")
    parser.add_argument("--pixel-size-nm", type=float, default=0.8, help="pixel size of the synthetic image (nm)")
    args = parser.parse_args()

    import napari
    from qtpy.QtCore import QElapsedTimer, QEventLoop, QTimer

    from exo_vision.io.image_data import ImageData
    from exo_vision.plugins._layers import image_layer_data
    from exo_vision.synthetic.tem import make_synthetic_tem

    t0 = time.perf_counter()
    pixels, truth = make_synthetic_tem((args.size, args.size), pixel_size_nm=args.pixel_size_nm, rng=0)
    print(f"synthetic {args.size}x{args.size} image with {len(truth.vesicles)} vesicles: {time.perf_counter() - t0:.1f} s")
    image = ImageData(
        data=pixels,
        pixel_size_nm=args.pixel_size_nm,
        pixel_size_source="user",
        pixel_size_yx_nm=(args.pixel_size_nm, args.pixel_size_nm),
        kind="tem",
    )
    viewer = napari.Viewer(show=True)
    data, kwargs, _ = image_layer_data(image, name="benchmark")
    viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget("exo-vision", "Vesicle segmentation")

    for run in range(1, args.runs + 1):
        label = "first run (cold: napari creates its progress bar and Labels visual)" if run == 1 else f"run {run} (warm)"
        print(f"--- {label}")
        measure_once(widget, QElapsedTimer, QEventLoop, QTimer)
    viewer.close()


def measure_once(widget, QElapsedTimer, QEventLoop, QTimer) -> None:  # noqa: N803 - Qt classes passed in
    """Run the widget once while a 10 ms QTimer records event-loop gaps; print the figures."""
    clock = QElapsedTimer()
    gaps: list[tuple[float, str, float]] = []  # (gap ms, phase, time of the tick in s)
    state = {"last": 0, "phase": "computing"}

    def tick() -> None:
        now = clock.elapsed()
        gaps.append((now - state["last"], state["phase"], now / 1000))
        state["last"] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    loop = QEventLoop()

    clock.start()
    timer.start()
    start = time.perf_counter()
    worker = widget.run()
    done = {}

    def on_returned(_result: object) -> None:
        done["compute_s"] = time.perf_counter() - start
        state["phase"] = "display"

    worker.returned.connect(on_returned)
    worker.finished.connect(lambda: QTimer.singleShot(500, loop.quit))
    loop.exec()
    timer.stop()
    total = time.perf_counter() - start
    compute = [g for g, phase, _ in gaps[1:] if phase == "computing"]
    display = [g for g, phase, _ in gaps if phase == "display"]
    slow = [f"{g:.0f} ms at {t:.1f} s" for g, phase, t in gaps[1:] if phase == "computing" and g > 100]
    n = 0 if widget.labels_layer is None else len(widget.labels_layer.features)
    print(f"vesicles found: {n}")
    print(f"time to result on screen: {done.get('compute_s', float('nan')):.2f} s (wall {total - 0.5:.2f} s)")
    print(f"longest event-loop gap while computing: {max(compute, default=0):.0f} ms (bar: <= 200 ms) over {len(compute)} ticks")
    print(f"gaps over 100 ms while computing: {', '.join(slow) or 'none'}")
    print(f"longest event-loop gap while adding the result layer: {max(display, default=0):.0f} ms")


if __name__ == "__main__":
    main()
