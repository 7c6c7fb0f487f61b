"""The one wording of a failure reported instead of raised."""

from __future__ import annotations

import errno

from exo_vision._shared.failures import MEMORY_HINT, describe_failure
from exo_vision.io.image_data import ImageReadError


def test_an_expected_error_is_its_message_without_the_class_name():
    assert describe_failure(ImageReadError("a.tif", "not a TIFF image", "Open the original")) == (
        "a.tif: not a TIFF image. Open the original"
    )
    assert describe_failure(ValueError("--lanes must be at least 1")) == "--lanes must be at least 1"


def test_an_os_error_names_its_file_and_what_to_check():
    err = FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/grid 3/x.tif")
    assert describe_failure(err) == "/data/grid 3/x.tif: No such file or directory; check the path and your permissions"


def test_a_defect_says_it_is_unexpected_and_asks_for_a_report():
    message = describe_failure(KeyError("lane"))
    assert message.startswith("unexpected error (KeyError: 'lane')")
    assert "please report it" in message


def test_memory_exhaustion_says_what_to_run_instead():
    assert "--workers 1" in describe_failure(MemoryError())


def test_undecodable_file_names_print():
    err = FileNotFoundError(errno.ENOENT, "No such file or directory", "Probe_\udce9.tif")
    assert "Probe_\ufffd.tif" in describe_failure(err)


def test_a_full_disk_names_the_folder_and_what_to_do():
    staged = OSError(errno.ENOSPC, "No space left on device", "/data/out/.exo-vision-tmp-abc.png")
    assert describe_failure(staged) == (
        "/data/out: no space left (the disk or your quota is full); free space there, then run the same command "
        "again (with --resume for exo-vision tem)"
    )
    assert describe_failure(OSError(errno.EDQUOT, "Disk quota exceeded")).startswith("the output folder: no space left")


def test_opencv_running_out_of_memory_is_said_as_such_on_one_line():
    import cv2

    err = cv2.error("OpenCV(4.10.0) alloc.cpp:73: error: (-4:Insufficient memory)\n Failed to allocate 7 bytes")
    assert describe_failure(err) == MEMORY_HINT
    multi = describe_failure(RuntimeError("first line\n  second line\r\nthird"))
    assert "\n" not in multi and "first line second line third" in multi


def test_a_name_the_locale_cannot_encode_says_how_to_run():
    err = UnicodeEncodeError("ascii", "Größe.tif", 2, 4, "ordinal not in range(128)")
    message = describe_failure(err)
    assert "'öß'" in message and "UTF-8 locale (e.g. LANG=C.UTF-8)" in message
