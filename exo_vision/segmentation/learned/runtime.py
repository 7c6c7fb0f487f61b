"""Running the network: an onnxruntime session on the CPU and tiled prediction for any image size."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np

from exo_vision._shared.interrupt import interrupts_deferred
from exo_vision.segmentation.learned.weights import ModelCard

#: Largest tile side the network sees (working-scale pixels; a 2048² micrograph at 0.8 nm/px
#: is one tile at 3 nm/px) and the overlap of neighbouring tiles.
TILE_PX = 640
OVERLAP_PX = 128
#: Sessions kept open (one per model file and thread count): a batch alternates between few.
SESSION_CACHE_SIZE = 4
#: onnxruntime's log level for the session: 3 is errors only (no warnings on the console).
ORT_LOG_ERRORS_ONLY = 3
#: Maps the network predicts: foreground probability, boundary probability, normalised distance.
N_MAPS = 3


@lru_cache(maxsize=SESSION_CACHE_SIZE)
def _session(onnx_file: str, sha256: str, threads: int):
    import onnxruntime as ort  # a base dependency, imported when the learned method runs

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = ORT_LOG_ERRORS_ONLY
    # no preplanned block for every activation of a tile: a third less peak memory, no slower
    options.enable_mem_pattern = False
    return ort.InferenceSession(onnx_file, sess_options=options, providers=["CPUExecutionProvider"])


def session_for(card: ModelCard, *, threads: int = 1):
    """A cached onnxruntime session of ``card``'s network using ``threads`` CPU threads.

    A Ctrl-C (or a SIGTERM or SIGHUP handled as one) that arrives while onnxruntime is imported and the
    session created is raised as KeyboardInterrupt once they are done: inside the import, onnxruntime turns
    it into ``ImportError: initialization failed``.
    """
    if threads < 1:
        raise ValueError(f"`threads` must be at least 1, got {threads!r}")
    try:
        with interrupts_deferred():
            return _session(str(card.onnx_path), card.sha256, int(threads))
    except Exception as err:  # onnxruntime raises its own exception types for a bad graph
        raise ValueError(
            f"onnxruntime cannot load model {card.onnx_path} ({type(err).__name__}: {err}); "
            "reinstall exo_vision or pass --model with a valid model"
        ) from None


def _pad_to(image: np.ndarray, m: int, n: int) -> np.ndarray:
    pad_m, pad_n = m - image.shape[0], n - image.shape[1]
    if pad_m == 0 and pad_n == 0:
        return image
    mode: Literal["reflect", "edge"] = "reflect" if pad_m < image.shape[0] and pad_n < image.shape[1] else "edge"
    return np.pad(image, ((0, pad_m), (0, pad_n)), mode=mode)


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_starts(length: int, *, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))
    return [round(k * (length - tile) / (count - 1)) for k in range(count)]


def balanced_tile(length: int, *, max_tile: int, overlap: int, multiple_of: int) -> int:
    """The smallest tile side (a multiple of ``multiple_of``) that covers ``length`` in as few
    tiles of at most ``max_tile`` as possible, so little is computed twice."""
    padded = _ceil_to(length, multiple_of)
    if padded <= max_tile:
        return padded
    count = -(-(length - overlap) // (max_tile - overlap))
    return min(_ceil_to(-(-(length + (count - 1) * overlap) // count), multiple_of), max_tile)


def predict_maps(
    session,
    image: np.ndarray,
    *,
    multiple_of: int,
    tile_px: int = TILE_PX,
    overlap_px: int = OVERLAP_PX,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The network's maps for a normalised working-scale image, tile by tile.

    Each tile contributes only its inner part (``overlap_px / 2`` from each
    shared edge), where the network sees enough context, so the stitched maps
    equal those of one whole-image pass up to the network's edge effects, and
    memory stays bounded by the tile size.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        From :func:`session_for`.
    image : (M, N) ndarray of float32
        Output of :func:`~exo_vision.segmentation.learned.network_input.normalise_for_network`.
    multiple_of : int
        Tile sides are padded to multiples of this (the network's down-sampling).
    tile_px, overlap_px : int
        Tile side and overlap in pixels.
    progress : callable(int, int), optional
        Called as ``progress(done, total)`` after each tile.

    Returns
    -------
    (3, M, N) ndarray of float32
        Foreground probability, boundary probability, normalised distance.
    """
    img = np.ascontiguousarray(image, dtype=np.float32)
    m, n = img.shape
    tile_px = _ceil_to(max(tile_px, 2 * overlap_px + multiple_of), multiple_of)
    tile_m = balanced_tile(m, max_tile=tile_px, overlap=overlap_px, multiple_of=multiple_of)
    tile_n = balanced_tile(n, max_tile=tile_px, overlap=overlap_px, multiple_of=multiple_of)
    padded = _pad_to(img, max(m, tile_m), max(n, tile_n))
    pm, pn = padded.shape
    rows = tile_starts(pm, tile=tile_m, overlap=overlap_px)
    cols = tile_starts(pn, tile=tile_n, overlap=overlap_px)
    out = np.empty((N_MAPS, pm, pn), np.float32)
    half = overlap_px // 2
    total, done = len(rows) * len(cols), 0
    for r in rows:
        for c in cols:
            pred = session.run(None, {"image": padded[None, None, r : r + tile_m, c : c + tile_n]})[0][0]
            top = 0 if r == 0 else half
            left = 0 if c == 0 else half
            out[:, r + top : r + tile_m, c + left : c + tile_n] = pred[:, top:, left:]
            done += 1
            if progress is not None:
                progress(done, total)
    return out[:, :m, :n]
