"""The settings of a fine-tuning run (:class:`FineTuneSettings`), apart from the training itself.

Only the standard library is imported here, so ``exo-vision train --help``, whose defaults these are, loads no
scientific library.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Share of generated crops when only some vesicles are outlined (``exo-vision train --partial-outlines``): away
#: from the outlines they are the only negatives the training sees.
PARTIAL_GENERATED_FRACTION = 0.5


@dataclass(frozen=True)
class FineTuneSettings:
    """Settings of a fine-tuning run (recorded in the model card).

    Attributes
    ----------
    steps : int
        Optimiser steps at most.
    max_minutes : float
        Training time at most, the checkpoint scorings included (0: no limit).
    patch_px, batch : int
        Crop side (working-scale pixels) and crops per step.
    learning_rate : float
        Peak learning rate (cosine decay).
    validation_fraction : float
        Share of the micrographs held out for validation (at least one).
    seed : int
        Seed of the split, the crops and the augmentations.
    threads : int
        CPU threads.
    min_train_vesicles, min_validation_vesicles : int
        Fewest curated vesicles to train on and to validate on; below these the run is refused.
    generated_fraction : float
        Share of training crops drawn from the generator the model was first trained on
        (:func:`exo_vision.learn.data.make_sample`) instead of the curated micrographs, so the
        model keeps what it knew.
    select_every_steps : int
        Steps between scorings of the checkpoint on the selection micrograph(s) (0: no
        selection, the last step's weights are exported). Off by default: on the
        development seeds of ``benchmarks/finetune.py`` a held-out fifth of five micrographs
        (about 25 vesicles) scored F1 too noisily to pick a checkpoint, and training on all
        five for 1000 steps gained more (F1 +0.220 against +0.165 with selection).
    select_fraction : float
        Share of the training micrographs held out as selection micrographs (at least one).
    min_micrographs_for_selection : int
        Fewest distinct training micrographs for checkpoint selection; with fewer, all of them
        are trained on and the last step's weights are exported.
    partial_outlines : bool
        The curated micrographs outline only some of their vesicles: the loss counts only the
        outlined vesicles and a ring around each (:data:`exo_vision.learn.finetune.PARTIAL_RING_NM`),
        so a vesicle nobody outlined is not taught as background, and the starting model's
        foreground threshold is kept (F1 on selective outlines cannot choose one). Use it with
        ``generated_fraction`` > 0: the generated crops are then the only negatives away from
        the outlines.
    """

    steps: int = 1000
    max_minutes: float = 8.0
    patch_px: int = 128
    batch: int = 8
    learning_rate: float = 3e-4
    validation_fraction: float = 0.3
    seed: int = 0
    threads: int = 2
    min_train_vesicles: int = 20
    min_validation_vesicles: int = 10
    generated_fraction: float = 0.0
    select_every_steps: int = 0
    select_fraction: float = 0.2
    min_micrographs_for_selection: int = 3
    partial_outlines: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"the training needs at least one step, got {self.steps} (--steps)")
        if not self.max_minutes >= 0:
            raise ValueError(
                f"the time limit must be 0 (no limit) or a positive number of minutes, got {self.max_minutes}"
            )
        for name, value, option in (
            ("validation_fraction", self.validation_fraction, "--validation-fraction"),
            ("select_fraction", self.select_fraction, None),
            ("generated_fraction", self.generated_fraction, None),
        ):
            low_ok = value > 0 if name != "generated_fraction" else value >= 0
            if not (low_ok and value < 1):
                where = f" ({option})" if option else ""
                raise ValueError(f"{name} must be a share between 0 and 1, got {value}{where}")
        if self.select_every_steps < 0:
            raise ValueError(
                f"the steps between checkpoint scorings must be 0 (keep the last step) or more, got "
                f"{self.select_every_steps} (--select-every)"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"the learning rate must be positive, got {self.learning_rate} (--learning-rate)")
        if self.partial_outlines and self.generated_fraction <= 0:
            raise ValueError(
                "training on partly outlined micrographs needs generated crops as its negatives: give "
                f"generated_fraction > 0 (exo-vision train --partial-outlines uses {PARTIAL_GENERATED_FRACTION})"
            )
        if self.partial_outlines and self.select_every_steps > 0:
            raise ValueError(
                "checkpoint selection (--select-every) scores F1 on the outlines, which counts every vesicle nobody "
                "outlined as a false positive and so prefers checkpoints that find fewer vesicles: it is not "
                "available with --partial-outlines (the last step's weights are kept)"
            )
        if self.threads < 1:
            raise ValueError(f"the training needs at least one thread, got {self.threads} (--threads)")


def with_partial_outlines(settings: FineTuneSettings) -> FineTuneSettings:
    """``settings`` for curated micrographs that outline only some of their vesicles, as
    ``exo-vision train --partial-outlines`` and the grid session's *only some vesicles outlined* choice set them:
    ``partial_outlines`` on and :data:`PARTIAL_GENERATED_FRACTION` of the crops generated.

    Raises
    ------
    ValueError
        When ``settings`` select checkpoints (``select_every_steps`` > 0), which partial outlines cannot score.
    """
    return replace(settings, partial_outlines=True, generated_fraction=PARTIAL_GENERATED_FRACTION)
