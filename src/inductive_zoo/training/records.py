"""What a trained checkpoint records about itself for publishing: its evaluation metrics (written by `Trainer`) and a
training summary (the data and recipe arguments, written by the supervised recipe's `run`)."""

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .config_overrides import overrides_text

# Written into the output directory by `inductive_zoo.training.image_classification.run`.
TRAINING_SUMMARY_FILE = "training_summary.json"
# Written by `Trainer.save_metrics`: "all" (our recipe) or "eval" (transformers' example scripts), in that order.
METRICS_FILES = ("all_results.json", "eval_results.json")
# The recipe arguments worth reporting on a model card, by `TrainingArguments` field name.
RECIPE_FIELDS = (
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "optim",
    "optim_args",
    "lr_scheduler_type",
    "warmup_steps",
    "label_smoothing_factor",
    "max_grad_norm",
    "bf16",
    "fp16",
    "torch_compile",
    "seed",
)
# The augmentation arguments of the recipe's `DataArguments`.
AUGMENTATION_FIELDS = (
    "no_augmentation", "crop_scale_min", "crop_padding", "hflip_prob", "colour_jitter", "auto_augment",
    "randaugment_num_ops", "randaugment_magnitude", "random_erasing_prob", "mixup_alpha", "cutmix_alpha", "mixup_prob",
    "mixup_switch_prob", "alternating_flip", "per_image_draws",
)  # fmt: skip
# The fast-training options of the recipe (`ModelArguments` and `DataArguments` fields) that change its result or
# its speed, recorded in the summary.
FAST_TRAINING_FIELDS = ("whitening_init", "channels_last", "keep_decoded", "tta_level")


class MissingEvaluationError(ValueError):
    """A checkpoint has no evaluation results to publish (its card's `model-index` would be empty)."""


@dataclass(frozen=True)
class TrainingSummary:
    """The data and recipe a checkpoint was trained with: `dataset` as given to the recipe (a Hub id, a local
    directory or `digits`), the evaluation split, the number of training and evaluation images, the variant, preset
    and config overrides, the `RECIPE_FIELDS` of its `TrainingArguments` and its `AUGMENTATION_FIELDS`, the
    checkpoint it was fine-tuned from (`initialized_from`; `None`: trained from scratch), and the arguments it was
    given (`command`, `repeatable_command`: `inductive-zoo train` with them repeats it)."""

    dataset: str
    eval_split: str
    num_train_examples: int
    num_eval_examples: int
    model_type: str
    preset: str | None
    config_overrides: str | None
    train_fraction: float
    recipe: dict[str, Any] = field(default_factory=dict)
    augmentation: dict[str, Any] = field(default_factory=dict)
    recipe_name: str | None = None
    model_ema_decay: float | None = None
    training_time_s: float | None = None
    hardware: str | None = None
    initialized_from: str | None = None
    precision: str | None = None
    fast_training: dict[str, Any] = field(default_factory=dict)
    distillation: dict[str, Any] | None = None
    command: list[str] | None = None

    def save(self, output_dir: str | os.PathLike) -> Path:
        path = Path(output_dir) / TRAINING_SUMMARY_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_run(
        cls, trainer: Any, model_args: Any, data_args: Any, training_time_s: float | None = None
    ) -> "TrainingSummary":
        """The summary of a run of the supervised recipe: its `Trainer` (datasets, model config, arguments), its
        `ModelArguments` and `DataArguments` (for a fine-tuned checkpoint, `config_overrides` records the changes
        made to it), and the wall time of its training (all resumed parts together)."""
        fresh = model_args.model_name_or_path is None
        return cls(
            dataset=data_args.dataset,
            eval_split=trainer.eval_dataset.split,
            num_train_examples=len(trainer.train_dataset) - getattr(data_args, "unlabelled_count", 0),
            num_eval_examples=len(trainer.eval_dataset),
            model_type=trainer.model.config.model_type,
            preset=model_args.fresh_preset if fresh else None,
            config_overrides=model_args.config_overrides if fresh else applied_changes(model_args.checkpoint_changes),
            train_fraction=data_args.train_fraction,
            recipe=recipe_arguments(trainer.args),
            augmentation={name: getattr(data_args, name) for name in AUGMENTATION_FIELDS},
            recipe_name=getattr(model_args, "recipe", None),
            model_ema_decay=getattr(model_args, "model_ema_decay", None),
            training_time_s=training_time_s,
            hardware=describe_hardware(trainer.args.device),
            initialized_from=model_args.model_name_or_path,
            precision=describe_precision(model_args, trainer.args),
            fast_training={
                name: getattr(model_args, name, getattr(data_args, name, None)) for name in FAST_TRAINING_FIELDS
            },
            distillation=distillation_record(model_args, getattr(data_args, "unlabelled_count", 0)),
            command=getattr(model_args, "command", None),
        )

    @classmethod
    def load(cls, checkpoint_dir: str | os.PathLike) -> "TrainingSummary | None":
        path = Path(checkpoint_dir) / TRAINING_SUMMARY_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def distillation_record(model_args: Any, unlabelled_images: int = 0) -> dict[str, Any] | None:
    """The teacher and settings of a distilled run (`--distillation_teacher`), with the teacher's own training time
    where its directory records one (its training is part of what the student cost) and the number of training
    images the student saw without their labels (`--unlabelled_images`); `None` without a teacher."""
    teacher = getattr(model_args, "distillation_teacher", None)
    if teacher is None:
        return None
    teacher_summary = TrainingSummary.load(teacher) if Path(teacher).is_dir() else None
    return {
        "teacher": teacher,
        "kind": model_args.distillation_kind,
        "alpha": model_args.distillation_alpha,
        "temperature": model_args.distillation_temperature,
        "teacher_model_type": teacher_summary.model_type if teacher_summary else None,
        "teacher_training_time_s": teacher_summary.training_time_s if teacher_summary else None,
        "unlabelled_images": unlabelled_images,
    }


def applied_changes(changes: dict[str, Any]) -> str | None:
    """The config changes made to a fine-tuned checkpoint, as `--config_overrides` spells them (`None`: none)."""
    return overrides_text(changes) or None


def describe_hardware(device: Any) -> str:
    """What a run trained on: the GPU's name, or the CPU's model name and the threads torch used."""
    import torch

    from .precision import cpu_model_name

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU ({cpu_model_name()}), {threads} thread{'s' if threads > 1 else ''}"


def describe_precision(model_args: Any, training_args: Any) -> str:
    """The precision a run used and why (`PrecisionChoice.describe`), or just the mode where no choice was made."""
    choice = getattr(model_args, "precision_choice", None)
    if choice is not None:
        return choice.describe()
    return "bf16" if getattr(training_args, "bf16", False) else "fp32"


def recipe_arguments(training_args: Any) -> dict[str, Any]:
    """The `RECIPE_FIELDS` of a `TrainingArguments`, as JSON values (enums as their value)."""
    recipe = {}
    for name in RECIPE_FIELDS:
        value = getattr(training_args, name, None)
        recipe[name] = getattr(value, "value", value)
    return recipe


# The arguments that make up a run's execution mode (precision, compilation).
MODE_FIELDS = ("bf16", "fp16", "torch_compile")


def mode_arguments(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The arguments (`--bf16 false`, ...) that set the execution mode `recorded` where `current` sets another; a
    field missing from either was off. Where `current` leaves the precision to the machine (`precision: auto` and
    no `bf16`), the recorded precision is always named: auto may choose the other one elsewhere."""
    machine_chosen = current.get("precision") == "auto" and "bf16" not in current
    return [
        f"--{name} {str(bool(recorded.get(name))).lower()}"
        for name in MODE_FIELDS
        if bool(recorded.get(name)) != bool(current.get(name)) or (name == "bf16" and machine_chosen)
    ]


def argument_value(value: Any) -> str:
    """An argument's value as `inductive-zoo train` reads it back: `none` for `None` (the option off),
    `true`/`false` for booleans, the rest as `str`."""
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


# `inductive-zoo train` arguments that say where a run is written and how it resumes, not what it trains (a resume is
# exact): left out of the command a run records.
LOCATION_ARGUMENTS = ("output_dir", "resume_from_checkpoint")


def repeatable_command(argv: list[str]) -> list[str]:
    """The arguments a run was given (`inductive-zoo train ARGS`, before `--recipe` is expanded) that decide what it
    trains: `argv` without `LOCATION_ARGUMENTS` (as `--name VALUE` or `--name=VALUE`)."""
    command, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in (f"--{name}" for name in LOCATION_ARGUMENTS):
            skip = True
        elif not any(item.startswith(f"--{name}=") for name in LOCATION_ARGUMENTS):
            command.append(item)
    return command


def training_mode(recipe: dict[str, Any]) -> str:
    """How a run executed, from its recorded `recipe` arguments: `"fp32 eager"`, `"bf16"`, `"compile"`,
    `"compile + bf16"` (or fp16). A run recorded before a field existed had it off."""
    precision = "bf16" if recipe.get("bf16") else "fp16" if recipe.get("fp16") else None
    if recipe.get("torch_compile"):
        return f"compile + {precision}" if precision else "compile"
    return precision or "fp32 eager"


def read_evaluation_metrics(checkpoint_dir: str | os.PathLike) -> dict[str, float]:
    """The `eval_*` metrics of a checkpoint, from the first of `METRICS_FILES` that holds any.

    Raises:
        MissingEvaluationError: no metrics file holds `eval_accuracy`.
    """
    checkpoint_dir = Path(checkpoint_dir)
    for name in METRICS_FILES:
        path = checkpoint_dir / name
        if path.is_file():
            metrics = {key: value for key, value in json.loads(path.read_text()).items() if key.startswith("eval_")}
            if "eval_accuracy" in metrics:
                return metrics
    raise MissingEvaluationError(
        f"{checkpoint_dir} has no evaluation results ({' or '.join(METRICS_FILES)} with eval_accuracy): train it "
        "with --do_eval (the recipe writes them), or publish without results by passing --allow-unevaluated"
    )


# Written into the output directory by `inductive_zoo.training.pretraining.run`.
PRETRAINING_RESULTS_FILE = "pretraining_results.json"


@dataclass(frozen=True)
class PretrainingRecord:
    """What a self-supervised pre-training (`inductive-zoo pretrain`) records about itself: the objective, the
    variant, the data (`train_images` pre-trained on, labels unused), the frozen-feature evaluation before
    (`initial`) and after (`pretrained`) pre-training (`knn_accuracy`, `linear_probe_accuracy` of `eval_images`
    images of `eval_split` against a memory bank of `bank_images` training images; `reconstruction_loss` for
    masked image modeling), and the run's time, machine, precision and `command` (its arguments, without the output
    directory)."""

    objective: str
    model_type: str
    dataset: str
    train_images: int
    bank_images: int
    eval_split: str
    eval_images: int
    initial: dict[str, float]
    pretrained: dict[str, float]
    training_time_s: float
    hardware: str
    precision: str | None
    command: list[str]

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "PretrainingRecord | None":
        """The record of the pre-training run in `run_dir`; `None` when it is not one.

        Raises:
            ValueError: the run's record lacks a field (written before the field existed), naming the fields.
        """
        path = Path(run_dir) / PRETRAINING_RESULTS_FILE
        if not path.is_file():
            return None
        saved = json.loads(path.read_text())
        names = [item.name for item in fields(cls)]
        missing = [name for name in names if name not in saved]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}: it was written by an older `inductive-zoo pretrain`")
        return cls(**{name: saved[name] for name in names})
