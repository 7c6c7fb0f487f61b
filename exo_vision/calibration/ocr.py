"""Reading scale-bar labels: tesseract on a tight crop, and a cautious parser.

tesseract (the ``tesseract-ocr`` system package) is called as a subprocess on a
binarised, upscaled crop holding only the label. Its text is parsed by
:func:`parse_scale_label`, which knows the usual misreads (dropped spaces, "µ"
read as "u" or "p") and lowers the confidence whenever it had to guess.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.filters import threshold_otsu

logger = logging.getLogger(__name__)

#: Where tesseract is looked for when no command is given (then ``PATH``).
DEFAULT_TESSERACT = "/usr/bin/tesseract"

#: Leading digits microscopes use for bar lengths (1, 2, 2.5, 5 x 10^k).
_NICE_MANTISSAS = (1.0, 2.0, 2.5, 5.0)

#: A number (possibly with letters tesseract confuses with digits) then a unit.
_LABEL_RE = re.compile(r"^(?P<number>[0-9OoQDlIi|!Ss.,]*[0-9OoQDlIi|!Ss])(?P<unit>[A-Za-zµ]{2,3})$")
#: Letters tesseract reads for digits in scale-bar labels.
_DIGIT_MISREADS = str.maketrans(
    {"O": "0", "o": "0", "Q": "0", "D": "0", "l": "1", "I": "1", "i": "1", "|": "1", "!": "1", "S": "5", "s": "5"}
)
#: Marks tesseract sometimes adds after a label (specks, the box edge).
_TRAILING_JUNK = ".,:;'\"*®©°_-~`"
#: What tesseract makes of "µm".
_MICRO_MISREADS = ("pm", "ym", "jm", "yum", "pum", "hm")

#: Grey level of the paper in the binarised crops tesseract reads (text is 0).
WHITE = 255
#: Letter height crops are scaled to, px (tesseract reads best at about 30-50 px) ...
TARGET_HEIGHT_PX = 48
#: ... by a factor kept within these bounds.
SCALE_FACTOR_BOUNDS = (0.25, 4.0)
#: The white margin around a crop is a quarter of its height (1 / PAD_PER_HEIGHT), at least MIN_PAD_PX.
PAD_PER_HEIGHT = 4
MIN_PAD_PX = 10
#: tesseract page segmentation modes: one text line, one word.
PSM_SINGLE_LINE = 7
PSM_SINGLE_WORD = 8
#: Longest tesseract run, s: one for a batch of crops, one for a single crop.
BATCH_TIMEOUT_S = 30.0
SINGLE_TIMEOUT_S = 20.0
#: tesseract's TSV output: columns per word row, and the columns of the confidence and of the text.
TSV_COLUMNS = 12
TSV_CONFIDENCE = 10
TSV_TEXT = 11
#: Tesseract batches whose results a process keeps (keyed by the crops' pixels).
CACHED_BATCHES = 64
_RESULTS: OrderedDict[str, tuple[OcrResult, ...]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: Ink components with fewer pixels than this are specks.
MIN_INK_AREA_PX = 3
#: Marks lower than this fraction of the tallest glyph (decimal points, specks) are not glyphs.
MIN_GLYPH_HEIGHT_FRACTION = 0.4
#: A decimal point is at most this fraction of the tallest glyph high and wide ...
MAX_POINT_HEIGHT_FRACTION = 0.3
#: ... and its bottom lies within this fraction of the tallest glyph of the glyphs' baseline.
POINT_BASELINE_TOLERANCE = 0.12
#: Pixels touching by a corner are one glyph.
CONNECTIVITY = 8
#: Every unit ("nm", "um", "µm") is the label's last two glyphs.
UNIT_GLYPHS = 2
#: The digits' tops lie within this fraction of the digit height of the highest one ...
DIGIT_TOP_TOLERANCE = 0.08
#: ... and the unit's letters (x-height) start at least this fraction lower.
UNIT_MIN_DROP = 0.15
#: Decimal base of bar lengths, and the tolerance of a mantissa being one of the usual ones.
DECIMAL_BASE = 10.0
MANTISSA_TOLERANCE = 1e-6
#: Nanometres in a micrometre.
NM_PER_UM = 1000.0
#: Confidence factors of the parser's guesses: junk after the unit, a misread "µ", digits read as
#: letters, and a bar length that is not a usual round one.
TRAILING_JUNK_FACTOR = 0.9
MICRO_MISREAD_FACTOR = 0.9
DIGIT_MISREAD_FACTOR = 0.85
UNUSUAL_VALUE_FACTOR = 0.6


class TesseractError(RuntimeError):
    """tesseract is missing or failed; the message says how to fix it."""


@dataclass(frozen=True)
class OcrResult:
    """Text tesseract read and its mean word confidence (0..1)."""

    text: str
    confidence: float


@dataclass
class LabelValue:
    """A parsed scale-bar label.

    Attributes
    ----------
    length_nm : float
        The length the label states, in nanometres.
    confidence : float
        0..1: how sure the parser is that it read the label as printed
        (1 when the text matched exactly, lower when a misread was corrected
        or the number is unusual for a scale bar).
    note : str
        What was corrected, if anything.
    """

    length_nm: float
    confidence: float
    note: str


def find_tesseract(tesseract_cmd: str | None = None) -> str:
    """Return the tesseract executable to run.

    Parameters
    ----------
    tesseract_cmd : str, optional
        Explicit path or command name. By default ``/usr/bin/tesseract``, then
        ``tesseract`` on ``PATH``.

    Raises
    ------
    TesseractError
        If no executable is found (the message says how to install it).
    """
    candidates = [tesseract_cmd] if tesseract_cmd else [DEFAULT_TESSERACT, "tesseract"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise TesseractError(
        f"tesseract OCR was not found (looked for {', '.join(candidates)}); install it with "
        "`apt-get install tesseract-ocr`, or give the pixel size yourself (--pixel-size-nm) "
        "or by drawing a line over the scale bar"
    )


def prepare_label_crop(
    crop: np.ndarray, *, text_is_bright: bool, target_height_px: int = TARGET_HEIGHT_PX
) -> np.ndarray:
    """Turn a gray crop of a label into black text on white, scaled for tesseract.

    Parameters
    ----------
    crop : (h, w) ndarray
        Gray pixels around the label (a few pixels of margin).
    text_is_bright : bool
        Whether the text is lighter than its surroundings.
    target_height_px : int
        Height the crop is resized to (tesseract reads best at ~30-50 px
        letters); the factor is limited to 1/4..4.

    Returns
    -------
    (H, W) ndarray of uint8
        Binarised (0 text, 255 paper) and padded image.
    """
    crop = np.asarray(crop, dtype=np.float32)
    if text_is_bright:
        crop = -crop
    factor = float(np.clip(target_height_px / max(crop.shape[0], 1), *SCALE_FACTOR_BOUNDS))
    interpolation = cv2.INTER_CUBIC if factor >= 1 else cv2.INTER_AREA
    big = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=interpolation)
    if float(big.max()) <= float(big.min()):
        binary = np.full(big.shape, WHITE, np.uint8)
    else:
        binary = np.where(big > threshold_otsu(big), WHITE, 0).astype(np.uint8)
    pad = max(MIN_PAD_PX, big.shape[0] // PAD_PER_HEIGHT)
    return cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=WHITE)


def run_tesseract_batch(
    binaries: list[np.ndarray],
    *,
    tesseract_cmd: str | None = None,
    whitelist: str | None = None,
    psm: int = PSM_SINGLE_LINE,
    timeout_s: float = BATCH_TIMEOUT_S,
) -> list[OcrResult]:
    """OCR several one-line images with a single tesseract run.

    Loading tesseract's model costs far more than reading a small crop, so the
    crops are written to a temporary folder and read in one run. The results
    of the last :data:`CACHED_BATCHES` batches are kept in the process, keyed by
    the crops' pixels: micrographs from one microscope carry the same label, so a
    folder of them starts tesseract once (tesseract gives the same text for the
    same pixels, so the cache changes no result).

    Parameters
    ----------
    binaries : list of (H, W) ndarray of uint8
        Black text on white, as from :func:`prepare_label_crop`.
    tesseract_cmd : str, optional
        tesseract executable (see :func:`find_tesseract`).
    whitelist : str, optional
        Only these characters may be output (e.g. digits for the number part).
    psm : int
        Page segmentation mode: 7 = one line, 8 = one word.
    timeout_s : float
        Give up after this many seconds.

    Returns
    -------
    list of OcrResult
        One per image, in order: the words joined by single spaces and the
        lowest word confidence (0..1).

    Raises
    ------
    TesseractError
        If tesseract is missing, fails or times out.
    """
    exe = find_tesseract(tesseract_cmd)
    if not binaries:
        return []
    key = _batch_key(binaries, exe=exe, whitelist=whitelist, psm=psm)
    with _CACHE_LOCK:
        cached = _RESULTS.get(key)
        if cached is not None:
            _RESULTS.move_to_end(key)
            return list(cached)
    results = _tesseract_run(binaries, exe=exe, whitelist=whitelist, psm=psm, timeout_s=timeout_s)
    with _CACHE_LOCK:
        _RESULTS[key] = tuple(results)
        while len(_RESULTS) > CACHED_BATCHES:
            _RESULTS.popitem(last=False)
    return results


def _batch_key(binaries: list[np.ndarray], *, exe: str, whitelist: str | None, psm: int) -> str:
    """A digest of the crops (pixels and shapes, in order) and of how tesseract reads them."""
    digest = hashlib.sha256(f"{exe}|{whitelist}|{int(psm)}|{len(binaries)}".encode())
    for binary in binaries:
        array = np.ascontiguousarray(binary, dtype=np.uint8)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _tesseract_run(
    binaries: list[np.ndarray], *, exe: str, whitelist: str | None, psm: int, timeout_s: float
) -> list[OcrResult]:
    """One tesseract run over ``binaries`` (see :func:`run_tesseract_batch`)."""
    with tempfile.TemporaryDirectory(prefix="exo_vision_ocr_") as folder:
        paths = []
        for index, binary in enumerate(binaries):
            path = os.path.join(folder, f"label_{index}.png")
            if not cv2.imwrite(path, np.ascontiguousarray(binary, dtype=np.uint8)):
                raise TesseractError(f"could not write the label crop {path} for tesseract")
            paths.append(path)
        listing = os.path.join(folder, "labels.txt")
        with open(listing, "w", encoding="utf-8") as handle:
            handle.write("\n".join(paths) + "\n")
        # By default no character whitelist: with one, tesseract drops a "1" it sees as "l"
        # in "1um" instead of reporting it.
        command = [exe, listing, "stdout", "--psm", str(int(psm)), "-l", "eng"]
        if whitelist:
            command += ["-c", f"tessedit_char_whitelist={whitelist}"]
        command.append("tsv")
        # One thread: the crops are tiny, and OpenMP start-up costs more than it saves.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False, env=env)
        except subprocess.TimeoutExpired as error:
            raise TesseractError(
                f"tesseract ({exe}) took longer than {timeout_s:g} s on {len(paths)} label crops"
            ) from error
        except OSError as error:
            raise TesseractError(f"tesseract ({exe}) could not be started: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TesseractError(f"tesseract ({exe}) failed with exit code {done.returncode}: {' '.join(message[-2:])}")
    words: list[list[str]] = [[] for _ in binaries]
    confidences: list[list[float]] = [[] for _ in binaries]
    for line in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < TSV_COLUMNS or fields[0] != "5":
            continue
        word = fields[TSV_TEXT].strip()
        page = int(fields[1]) - 1
        if not word or not 0 <= page < len(binaries):
            continue
        words[page].append(word)
        confidences[page].append(max(float(fields[TSV_CONFIDENCE]), 0.0) / 100.0)
    return [
        OcrResult(text=" ".join(w), confidence=float(min(c))) if w else OcrResult(text="", confidence=0.0)
        for w, c in zip(words, confidences)
    ]


def run_tesseract(
    binary: np.ndarray,
    *,
    tesseract_cmd: str | None = None,
    whitelist: str | None = None,
    psm: int = PSM_SINGLE_LINE,
    timeout_s: float = SINGLE_TIMEOUT_S,
) -> OcrResult:
    """OCR one line of text with tesseract (see :func:`run_tesseract_batch`).

    Parameters
    ----------
    binary : (H, W) ndarray of uint8
        Black text on white, as from :func:`prepare_label_crop`.
    tesseract_cmd, whitelist, psm, timeout_s
        As for :func:`run_tesseract_batch`.

    Returns
    -------
    OcrResult
        The text (words joined by single spaces) and the lowest word confidence.
    """
    return run_tesseract_batch(
        [binary], tesseract_cmd=tesseract_cmd, whitelist=whitelist, psm=psm, timeout_s=timeout_s
    )[0]


def read_number_and_unit_batch(
    binaries: list[np.ndarray], *, tesseract_cmd: str | None = None
) -> list[OcrResult | None]:
    """:func:`read_number_and_unit` for several scalings of one label, in two tesseract runs.

    Parameters
    ----------
    binaries : list of (H, W) ndarray of uint8
        Black text on white.
    tesseract_cmd : str, optional
        tesseract executable.

    Returns
    -------
    list of (OcrResult or None)
        One per image; ``None`` where the glyphs do not split into digits and a unit.
    """
    parts = [_split_number_unit(binary) for binary in binaries]
    usable = [part for part in parts if part is not None]
    if not usable:
        return [None for _ in binaries]
    numbers = run_tesseract_batch([p[0] for p in usable], tesseract_cmd=tesseract_cmd, whitelist="0123456789.,")
    units = run_tesseract_batch(
        [p[1] for p in usable], tesseract_cmd=tesseract_cmd, whitelist="nmupµ", psm=PSM_SINGLE_WORD
    )
    results: list[OcrResult | None] = []
    reads = iter(zip(numbers, units))
    for part in parts:
        if part is None:
            results.append(None)
            continue
        number, unit = next(reads)
        text = f"{number.text.replace(' ', '')} {unit.text.replace(' ', '')}"
        results.append(OcrResult(text=text, confidence=min(number.confidence, unit.confidence)))
    return results


def glyph_spans(binary: np.ndarray) -> list[tuple[int, int]]:
    """Column spans of the glyphs in a binarised label, left to right.

    Pieces stacked above each other (a glyph broken by binarisation) count as
    one glyph; marks lower than 40 % of the tallest glyph (decimal points,
    specks) are not glyphs.

    Parameters
    ----------
    binary : (H, W) ndarray of uint8
        Black (0) text on white (255).

    Returns
    -------
    list of (int, int)
        Half-open column ranges, one per glyph.
    """
    ink = (np.asarray(binary) == 0).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=CONNECTIVITY)
    boxes = [(int(x), int(w), int(h)) for x, _, w, h, area in stats[1:count] if area >= MIN_INK_AREA_PX]
    if not boxes:
        return []
    tallest = max(h for _, _, h in boxes)
    spans: list[list[int]] = []
    for x, w, h in sorted(boxes):
        if h < MIN_GLYPH_HEIGHT_FRACTION * tallest:
            continue
        if spans:
            last = spans[-1]
            overlap = min(last[1], x + w) - max(last[0], x)
            if overlap > 0.5 * min(w, last[1] - last[0]):
                last[1] = max(last[1], x + w)
                continue
        spans.append([x, x + w])
    return [(a, b) for a, b in spans]


def shows_decimal_point(binary: np.ndarray) -> bool:
    """Whether a binarised label shows a decimal point: a small mark on the baseline between two glyphs.

    The mark is at most :data:`MAX_POINT_HEIGHT_FRACTION` of the tallest glyph high and wide, about as wide
    as high, its bottom within :data:`POINT_BASELINE_TOLERANCE` of the glyphs' baseline, and it lies between a
    glyph on its left and a digit followed by the unit's glyphs on its right (a speck above the line, beside the
    label or in the gap before the unit is none).
    """
    ink = (np.asarray(binary) == 0).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=CONNECTIVITY)
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h, area in stats[1:count] if area >= MIN_INK_AREA_PX]
    if not boxes:
        return False
    tallest = max(h for *_, h in boxes)
    glyphs = [(x, y, w, h) for x, y, w, h in boxes if h >= MIN_GLYPH_HEIGHT_FRACTION * tallest]
    if len(glyphs) < 2:
        return False
    baseline = float(np.median([y + h for _, y, _, h in glyphs]))
    for x, y, w, h in boxes:
        small = max(w, h) <= MAX_POINT_HEIGHT_FRACTION * tallest and 0.5 * h <= w <= 2 * h
        on_baseline = abs(y + h - baseline) <= POINT_BASELINE_TOLERANCE * tallest
        # a digit on its left, and a digit and the unit's glyphs on its right (not the gap before the unit)
        right = sum(gx >= x + w for gx, *_ in glyphs)
        between = any(gx + gw <= x for gx, _, gw, _ in glyphs) and right > UNIT_GLYPHS
        if small and on_baseline and between:
            return True
    return False


def _split_number_unit(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Cut a binarised label into its number and its two-glyph unit.

    Typography check that the cut is right: digits reach cap height, the
    unit's letters ("n", "m", "u", "µ") only x-height. If glyphs merged or
    split, the heights do not fit this pattern and ``None`` is returned.
    """
    spans = glyph_spans(binary)
    if len(spans) < UNIT_GLYPHS + 1:
        return None
    ink = np.asarray(binary) == 0
    tops = []
    bottoms = []
    for a, b in spans:
        rows = np.flatnonzero(ink[:, a:b].any(axis=1))
        tops.append(int(rows[0]))
        bottoms.append(int(rows[-1]) + 1)
    digit_top = min(tops[:-UNIT_GLYPHS])
    digit_height = max(bottoms[:-UNIT_GLYPHS]) - digit_top
    if digit_height <= 0:
        return None
    if any(top > digit_top + DIGIT_TOP_TOLERANCE * digit_height for top in tops[:-UNIT_GLYPHS]):
        return None
    if any(top < digit_top + UNIT_MIN_DROP * digit_height for top in tops[-UNIT_GLYPHS:]):
        return None
    cut = (spans[-UNIT_GLYPHS - 1][1] + spans[-UNIT_GLYPHS][0]) // 2
    pad = binary.shape[0] // PAD_PER_HEIGHT
    number_part = cv2.copyMakeBorder(binary[:, :cut], 0, 0, 0, pad, cv2.BORDER_CONSTANT, value=WHITE)
    unit_part = cv2.copyMakeBorder(binary[:, cut:], 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=WHITE)
    return number_part, unit_part


def read_number_and_unit(binary: np.ndarray, *, tesseract_cmd: str | None = None) -> OcrResult | None:
    """OCR a label in two parts: the number (digits only) and the unit (last two glyphs).

    Tesseract reads a lone "1" before "um" as "i", "l" or "t"; told that the
    number part holds only digits it reads it reliably. Every unit ends in
    two glyphs ("nm", "um", "µm"), both lower than the digits; when the glyph
    heights do not show that pattern the split is not attempted.

    Parameters
    ----------
    binary : (H, W) ndarray of uint8
        Black text on white, as from :func:`prepare_label_crop`.
    tesseract_cmd : str, optional
        tesseract executable.

    Returns
    -------
    OcrResult or None
        ``"<number> <unit>"`` with the lower of the two confidences, or
        ``None`` when the glyphs do not look like digits followed by a
        two-letter unit.
    """
    return read_number_and_unit_batch([binary], tesseract_cmd=tesseract_cmd)[0]


def _is_nice(value: float) -> bool:
    exponent = np.floor(np.log10(value))
    mantissa = value / DECIMAL_BASE**exponent
    return any(abs(mantissa - nice) < MANTISSA_TOLERANCE for nice in _NICE_MANTISSAS)


#: A number written with a thousands separator: "1,000", "10,000", "2,500", or with a point only before
#: three zeros ("1.000"); a decimal reading (1.000 nm, 2.5 nm for "2,500 nm") gave pixel sizes 1000x too small.
THOUSANDS_RE = r"[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,2}(?:\.000)+"


def parse_scale_label(text: str) -> LabelValue | None:
    """Parse a scale-bar label such as ``"500 nm"``, ``"0.5 µm"`` or ``"1um"``.

    Tesseract drops spaces, reads "µ" as "u", "p" or "y", "1" as "l" or "i" and
    "0" as "O" or "Q". These misreads are corrected, each correction lowering
    the confidence, so that a label is only trusted when tesseract was sure of
    it. Numbers that are not 1, 2, 2.5 or 5 times a power of ten also lower
    the confidence, since microscopes choose round bar lengths.

    Parameters
    ----------
    text : str
        Raw OCR text.

    Returns
    -------
    LabelValue or None
        ``None`` when the text is not a length label.

    Examples
    --------
    >>> parse_scale_label("500 nm").length_nm
    500.0
    >>> parse_scale_label("0.5um").length_nm
    500.0
    """
    cleaned = text.strip().replace("μ", "µ").replace(" ", "")
    confidence = 1.0
    notes = []
    trimmed = cleaned.rstrip(_TRAILING_JUNK)
    if trimmed != cleaned:
        notes.append(f"ignored {cleaned[len(trimmed) :]!r} after the unit")
        confidence *= TRAILING_JUNK_FACTOR
    match = _LABEL_RE.match(trimmed)
    if match is None:
        return None
    number_text = match.group("number")
    unit_text = match.group("unit").lower()
    if unit_text == "nm":
        scale = 1.0
    elif unit_text in ("um", "µm"):
        scale = NM_PER_UM
    elif unit_text in _MICRO_MISREADS:
        scale = NM_PER_UM
        # Safe to correct: read literally as picometres the pixel size would be
        # 1000x too small, which the plausibility check refuses anyway.
        notes.append(f"{unit_text!r} read as 'µm'")
        confidence *= MICRO_MISREAD_FACTOR
    else:
        return None
    digits = number_text.translate(_DIGIT_MISREADS)
    if digits != number_text:
        notes.append(f"{number_text!r} read as {digits!r}")
        confidence *= DIGIT_MISREAD_FACTOR
    if re.fullmatch(THOUSANDS_RE, digits):
        digits = re.sub(r"[,.]", "", digits)
        notes.append("thousands separator")
    elif "," in digits:
        digits = digits.replace(",", ".")
        notes.append("decimal comma")
    if re.fullmatch(r"\d+(?:\.\d+)?", digits) is None:
        return None
    value = float(digits)
    if value <= 0:
        return None
    if not _is_nice(value):
        notes.append(f"{digits} is not a usual scale-bar length")
        confidence *= UNUSUAL_VALUE_FACTOR
    if digits.startswith("0") and not digits.startswith("0."):
        notes.append("leading zero")
        confidence *= 0.5
    return LabelValue(length_nm=value * scale, confidence=confidence, note="; ".join(notes))
