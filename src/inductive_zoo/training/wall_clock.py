"""Training wall time, logged with every evaluation so that accuracy can be plotted against time."""

import time

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class WallClockCallback(TrainerCallback):
    """Adds `wall_time_s`, the seconds of training so far, to every entry `Trainer` logs (losses, evaluations), so
    that accuracy can be plotted against time.

    The clock counts the time since `on_train_begin`, plus, in a resumed run, the `wall_time_s` of the last entry of
    the checkpoint's `log_history` (time lost between that entry and the kill is not counted). It reads and writes
    `state.log_history` only: the entry `Trainer.log` has just appended, which is saved with the next checkpoint.
    """

    def __init__(self) -> None:
        self.started_at = 0.0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        earlier = next((entry["wall_time_s"] for entry in reversed(state.log_history) if "wall_time_s" in entry), 0.0)
        self.started_at = time.perf_counter() - earlier

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kwargs
    ) -> None:
        if state.log_history:
            state.log_history[-1]["wall_time_s"] = round(time.perf_counter() - self.started_at, 2)


def training_wall_time(log_history: list[dict]) -> float | None:
    """The training time of a run from its `log_history`: the `wall_time_s` that `WallClockCallback` added to the
    entry `Trainer` logs when training ends (counting every resumed part, unlike that entry's `train_runtime`,
    which is the last part's); `None` if there is none."""
    return next(
        (
            entry["wall_time_s"]
            for entry in reversed(log_history)
            if "train_runtime" in entry and "wall_time_s" in entry
        ),
        None,
    )
