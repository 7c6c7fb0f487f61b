"""The napari dock's analysis child sends the result without the burnt-in annotation mask (one byte per pixel more
to pickle); the labels come back compact, and an overlay drawn from the result finds the mask again."""

from __future__ import annotations

import queue

import numpy as np

from exo_vision.io import ImageData
from exo_vision.synthetic.tem import make_synthetic_tem


def test_the_child_sends_the_result_without_the_burnt_in_mask(monkeypatch):
    from exo_vision.plugins import _subprocess

    monkeypatch.setattr(_subprocess.os, "nice", lambda increment: 0)  # the child lowers its priority: not this one
    image, _ = make_synthetic_tem((512, 512), pixel_size_nm=0.8, difficulty="easy", rng=3)
    messages: queue.Queue = queue.Queue()
    _subprocess._child(ImageData(data=image, pixel_size_nm=0.8), {"method": "unet"}, messages)
    while (message := messages.get_nowait())[0] == "progress":
        pass
    kind, result = message
    assert kind == "ok" and result.burnt_in is None
    assert result.labels.dtype in (np.uint8, np.uint16) and result.labels.max() > 0
