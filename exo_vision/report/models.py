"""What the report says about a fine-tuned model that outlined the vesicles: its base model, that it was fine-tuned,
on how much curated data, whether on partial outlines, and its validation figures.

The runs record the model each image was segmented with (``run.json``'s, or a grid session's done-markers',
``segmenter.model``: name, version, sha256, the card's path and sha256, and ``base_model`` for a fine-tuned
one). The training facts are read from that card when it is still where the run read it, unchanged (its
checksum equals the recorded one); otherwise the report says so and shows what the run recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exo_vision._shared.atomic import sha256_file


@dataclass(frozen=True)
class FineTunedModel:
    """One fine-tuned model used by the runs of a report.

    Attributes
    ----------
    name, version, sha256 : str
        The model as the runs recorded it.
    card : str
        Path of its card as recorded ("" when not recorded).
    base : dict
        The recorded ``base_model`` (name, version, sha256).
    images : int
        Images segmented with it.
    training : dict or None
        The card's ``training`` block, None when the card cannot be read or changed since the run.
    validation : dict or None
        The card's ``validation.curated_validation`` block, when read.
    card_problem : str
        Why the card's facts are not shown ("" when they are).
    micrographs : dict of str to int
        Training, validation and selection micrographs the card lists (0 each when it is not read).
    """

    name: str
    version: str
    sha256: str
    card: str
    base: dict[str, Any]
    images: int
    training: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    card_problem: str = ""
    micrographs: dict[str, int] = field(default_factory=dict)

    def partial_outlines(self) -> bool:
        """Whether the card says it was fine-tuned on partial outlines (only some vesicles outlined): the
        settings ``exo-vision train`` records in it (``training.fine_tuning_settings``)."""
        settings = (self.training or {}).get("fine_tuning_settings") or {}
        return bool(settings.get("partial_outlines"))


def _read_card(path: str, recorded_sha: Any) -> tuple[dict[str, Any] | None, str]:
    """The card at ``path`` if its checksum is the recorded one, else None and why."""
    card_path = Path(path)
    if not path or not card_path.is_file():
        return None, f"its card ({path or 'not recorded'}) is not where the run read it"
    try:
        if recorded_sha and sha256_file(card_path) != recorded_sha:
            return None, f"its card {path} has changed since the run (other checksum)"
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        return None, f"its card {path} cannot be read ({err})"
    return (card, "") if isinstance(card, dict) else (None, f"its card {path} is not a model card")


def fine_tuned_models(runs: Sequence[dict[str, Any]]) -> list[FineTunedModel]:
    """The fine-tuned models (records with a ``base_model``) the runs' analysed images were segmented with, by
    model checksum in first-seen order, each with its card's training and validation facts."""
    found: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for run in runs:
        for record in run.get("images") or []:
            if not isinstance(record, dict) or record.get("status") not in ("done", "skipped"):
                continue
            model = (record.get("segmenter") or {}).get("model")
            if not isinstance(model, dict) or not isinstance(model.get("base_model"), dict):
                continue
            key = str(model.get("sha256") or model.get("name"))
            found.setdefault(key, model)
            counts[key] = counts.get(key, 0) + 1
    models = []
    for key, model in found.items():
        card, problem = _read_card(str(model.get("card") or ""), model.get("card_sha256"))
        training = (card or {}).get("training") if card else None
        data = (training or {}).get("data") or {}
        micrographs = {
            part: len(data.get(f"{part}_micrographs") or []) for part in ("training", "validation", "selection")
        }
        models.append(
            FineTunedModel(
                name=str(model.get("name") or "?"),
                version=str(model.get("version") or ""),
                sha256=str(model.get("sha256") or ""),
                card=str(model.get("card") or ""),
                base=dict(model["base_model"]),
                images=counts[key],
                training=training if isinstance(training, dict) else None,
                validation=((card or {}).get("validation") or {}).get("curated_validation") if card else None,
                card_problem=problem,
                micrographs=micrographs,
            )
        )
    return models
