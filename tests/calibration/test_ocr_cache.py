"""Tesseract runs once for a label it has read before in the process (a folder of one microscope's micrographs)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.calibration import ocr
from exo_vision.calibration.ocr import find_tesseract, prepare_label_crop, run_tesseract_batch
from exo_vision.synthetic.scalebar import render_text


def _has_tesseract() -> bool:
    try:
        find_tesseract()
    except ocr.TesseractError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_tesseract(), reason="tesseract-ocr is not installed")


def _label(text: str) -> np.ndarray:
    glyphs = render_text(text, font="DejaVu Sans", font_px=24).astype(np.float32)
    return prepare_label_crop(np.pad(glyphs, 6), text_is_bright=True)


def test_the_same_label_pixels_are_read_once_and_give_the_same_text(monkeypatch):
    runs = []
    real = ocr._tesseract_run

    def counted(binaries, **kwargs):
        runs.append(len(binaries))
        return real(binaries, **kwargs)

    monkeypatch.setattr(ocr, "_tesseract_run", counted)
    monkeypatch.setattr(ocr, "_RESULTS", type(ocr._RESULTS)())
    first = run_tesseract_batch([_label("200 nm")])
    again = run_tesseract_batch([_label("200 nm")])
    assert runs == [1] and again == first and first[0].text.replace(" ", "") == "200nm"
    other = run_tesseract_batch([_label("500 nm")])
    assert runs == [1, 1] and other[0].text.replace(" ", "") == "500nm"
    # another whitelist is another reading: not taken from the cache
    run_tesseract_batch([_label("200 nm")], whitelist="0123456789")
    assert runs == [1, 1, 1]


def test_the_cache_keeps_the_last_batches_only(monkeypatch):
    monkeypatch.setattr(ocr, "_RESULTS", type(ocr._RESULTS)())
    monkeypatch.setattr(ocr, "CACHED_BATCHES", 2)
    monkeypatch.setattr(ocr, "_tesseract_run", lambda binaries, **kw: [ocr.OcrResult("x", 1.0)] * len(binaries))
    for text in ("1", "2", "3"):
        run_tesseract_batch([_label(text)])
    assert len(ocr._RESULTS) == 2
