"""DINO's teacher, updated as a moving average of the student after every optimiser step."""

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..objectives.self_distillation import teacher_momentum


class DINOTeacherCallback(TrainerCallback):
    """Moves a `DINOModel`'s teacher towards its student after every optimizer step (`on_step_end`, which fires once
    per optimizer step, also under gradient accumulation): `model.update_teacher(m)` with
    `m = teacher_momentum(step, state.max_steps, base_momentum)`, `step = state.global_step - 1` being the index of the
    step just taken (DINO's `momentum_schedule[it]`: `base_momentum` at the first step, towards 1 at the last).

    It also sets `model.dino_epoch` (which the teacher temperature warm-up reads) to `state.epoch` at the start of
    training (a resumed run: the checkpoint's epoch) and after every step. The teacher and the loss's center are
    saved with the model, so a resumed run continues them; every process of a multi-process run applies the same
    update to the same (synchronised) student weights.
    """

    def __init__(self, base_momentum: float = 0.996) -> None:
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        self.base_momentum = base_momentum

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if not hasattr(model, "update_teacher"):
            raise ValueError(
                f"DINOTeacherCallback needs a DINO model with `update_teacher`, got {type(model).__name__}"
            )
        model.dino_epoch = float(state.epoch or 0.0)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        model.update_teacher(teacher_momentum(state.global_step - 1, state.max_steps, self.base_momentum))
        model.dino_epoch = float(state.epoch or 0.0)
