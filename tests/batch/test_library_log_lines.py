"""tifffile's own log lines (a damaged tag it skipped) name the file they concern, or go into its warnings.

Before, ``exo-vision tem`` printed ``ERROR: <TiffTag.fromfile> raised TiffFileError(...)`` before the run (the
memory check read the header without the reader's log routing), naming no file; the reader sent the same line to
DEBUG without the file name, and the run's outputs said nothing of it.
"""

from __future__ import annotations

import json
import logging
import struct

import tifffile

from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem


def _damaged_tag_tiff(path):
    """A good micrograph whose private tag 65000 points past the end of the file."""
    image, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=0
    )
    tifffile.imwrite(
        path,
        image,
        imagej=True,
        resolution=(1.0, 1.0),
        metadata={"unit": "nm"},
        extratags=[(65000, "s", 0, "a longer private text tag", True)],
    )
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[65000].offset
    raw[entry + 8 : entry + 12] = struct.pack("<I", 10**8)
    path.write_bytes(bytes(raw))


def test_a_damaged_tag_is_named_with_its_file_and_kept_in_its_warnings(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    _damaged_tag_tiff(folder / "grid_b7.tif")
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "-v"]) == 0
    about_the_tag = [r for r in caplog.records if "invalid value offset" in r.getMessage()]
    assert about_the_tag, "tifffile's message was lost"
    # every line about it, at any level, names the file (before: the memory check's ERROR line named none)
    assert all("grid_b7.tif" in r.getMessage() for r in about_the_tag), [r.getMessage() for r in about_the_tag]
    assert not [r for r in caplog.records if r.name.startswith("tifffile") and r.levelno >= logging.WARNING]
    # ... and the file's own warnings (run.json, the terminal) say what was skipped, once
    (record,) = json.loads((out / "run.json").read_text())["images"]
    skipped = [w for w in record["warnings"] if w.startswith("tifffile reported a damaged part of the file")]
    assert skipped == [
        "tifffile reported a damaged part of the file and skipped it (<tifffile.TiffTag 65000 @178> invalid value "
        "offset 100000000); the image was read without it. If its calibration or metadata look wrong, resave the "
        "file from the acquisition software, or give the pixel size (--pixel-size-nm)"
    ]
    shown = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "tifffile reported" in r.getMessage()
    ]
    assert len(shown) == 1 and shown[0].startswith(f"{folder / 'grid_b7.tif'}: ")
