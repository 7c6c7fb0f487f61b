"""Models fine-tuned inside a grid session: where they are written and how their before/after figures read.

GUI-free; the grid session's learning panel (:mod:`exo_vision.plugins._learning`) shows these.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

#: Folder (inside the grid's output folder) where fine-tuned models are written.
MODELS_FOLDER = "learned_models"


def new_model_path(output_dir: str | Path, *, now: dt.datetime | None = None) -> Path:
    """Path of a new fine-tuned model for a grid: ``<output_dir>/learned_models/grid_model_<YYYYmmdd_HHMMSS>.onnx``.

    ``now`` is the time stamped in the name (local time; the current time when None).
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d_%H%M%S")
    return Path(output_dir) / MODELS_FOLDER / f"grid_model_{stamp}.onnx"


def _figure(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


def comparison_text(result: Any, *, partial: bool = False) -> str:
    """The before -> after F1, precision and recall of a :class:`~exo_vision.learn.finetune.FineTuneResult`
    on its held-out curated micrographs, in two lines, then the micrographs not held out because the starting
    model learnt from them, the checkpoint kept when one was chosen on a held-out training micrograph and the
    time limit when it cut the training short, each on a line of its own, and last the :func:`verdict_text`
    sentence. With ``partial`` (the curated micrographs outline only some vesicles) a line after the figures
    says that precision and F1 are lower bounds
    (:data:`~exo_vision.learn.finetune.PARTIAL_FIGURES_NOTE`), and the verdict compares the outlined
    vesicles each model finds."""
    from exo_vision.learn.finetune import PARTIAL_FIGURES_NOTE

    before, after = result.before, result.after
    changes = ", ".join(
        f"{name} {_figure(before[key])} -> {_figure(after[key])}"
        for name, key in (("F1", "f1"), ("precision", "precision"), ("recall", "recall"))
    )
    text = f"held-out curated micrographs ({', '.join(m.name for m in result.validation)}):\n{changes}"
    if partial:
        text += f"\n{PARTIAL_FIGURES_NOTE}"
    seen = getattr(result, "seen_by_base", None)
    if seen:
        text += f"\nnot held out (the starting model learnt from them): {', '.join(seen)}"
    selection = getattr(result, "selection", None)
    if selection:
        text += f"\nkept step {selection['chosen_step']}, chosen on {', '.join(selection['micrographs'])}"
    if note := getattr(result, "time_limit_note", ""):
        text += f"\n{note}"
    return text + "\n" + verdict_text(before, after, partial=partial)


def verdict(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Whether a fine-tuned model scores ``"higher"``, ``"lower"`` or ``"same"`` as the model it started from.

    The F1 scores are compared on the held-out curated micrographs. A change of less
    than ``1 / N`` (N held-out curated vesicles, ``tp + fn``) is about what one vesicle
    found or missed moves F1, and is called ``"same"``; ``"none"`` when there is no
    held-out vesicle or no score.

    Parameters
    ----------
    before, after : dict
        Validation figures of the starting and the new model with ``f1``, ``tp`` and
        ``fn`` (:func:`exo_vision.learn.finetune.evaluate_model`).
    """
    vesicles = int(before["tp"]) + int(before["fn"])
    old, new = before["f1"], after["f1"]
    if vesicles == 0 or old is None or new is None or not (np.isfinite(old) and np.isfinite(new)):
        return "none"
    if new - old >= 1.0 / vesicles:
        return "higher"
    if old - new >= 1.0 / vesicles:
        return "lower"
    return "same"


def verdict_text(before: dict[str, Any], after: dict[str, Any], *, partial: bool = False) -> str:
    """:func:`verdict` as one sentence with the two F1 scores; for a lower score it says to keep the starting
    model and how to do better. With ``partial`` (partly outlined micrographs, whose F1 counts every vesicle
    nobody outlined as a false positive) it compares the outlined vesicles each model finds instead."""
    which = verdict(before, after)
    if which == "none":
        return "no held-out curated vesicle to compare the two models on"
    vesicles = int(before["tp"]) + int(before["fn"])
    if partial:
        return (
            f"of the {vesicles} outlined held-out vesicle{'s' if vesicles != 1 else ''} the new model finds "
            f"{int(after['tp'])}, the model it started from {int(before['tp'])}; with partial outlines neither "
            "model's precision can be judged here"
        )
    scores = f"F1 {before['f1']:.3f} -> {after['f1']:.3f} on {vesicles} held-out vesicle{'s' if vesicles != 1 else ''}"
    if which == "higher":
        return f"the new model scores higher than the model it started from ({scores})"
    if which == "lower":
        return (
            f"the new model scores LOWER than the model it started from ({scores}): keep the model you started "
            "from. With few curated micrographs fine-tuning can unlearn what the model knew; curate more "
            "micrographs, with every vesicle outlined, and learn again"
        )
    return f"the new model scores about the same as the model it started from ({scores}: within one vesicle)"
