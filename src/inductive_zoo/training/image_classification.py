"""Supervised image classification with `Trainer`: the recipe behind `inductive-zoo train` and `inductive-zoo demo`.

In the style of transformers' example scripts: three argument dataclasses parsed by `HfArgumentParser`
(`ModelArguments`, `DataArguments`, `TrainingArguments`), a model built from a preset or loaded from a checkpoint,
batched tensor augmentation on the training split, top-1/top-5 accuracy through the package's offline `evaluate`
metric, and a final `save_model` that writes `config.json`, `model.safetensors` and `preprocessor_config.json`.
"""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    EvalPrediction,
    HfArgumentParser,
    PreTrainedModel,
    TrainingArguments,
    set_seed,
)

from .. import VARIANTS
from ..data import (
    AugmentationConfig,
    BatchAugmentation,
    DecodedImageDataset,
    ImageClassificationCollator,
    class_balanced_subset,
    image_processor_for,
    load_image_dataset,
)
from ..metrics import load_accuracy_metric
from ..publishing.records import TrainingSummary
from .callbacks import PRS_SCHEDULES, NonFiniteLossCallback, PRSCallback
from .checkpointing import ResumableTrainer

logger = logging.getLogger(__name__)

CONFIG_CLASSES = {config_class.model_type: config_class for config_class, _, _ in VARIANTS}


@dataclass
class ModelArguments:
    """Which model to train: a variant and preset, or an existing checkpoint to fine-tune."""

    model_type: str = field(
        default="iso_transformer", metadata={"help": f"variant to build, one of {sorted(CONFIG_CLASSES)}"}
    )
    preset: str = field(default="micro-patch4-32", metadata={"help": "named preset of the variant's config"})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "comma-separated config fields over the preset, e.g. 'pooling=mean,num_hidden_layers=6'"},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "fine-tune this checkpoint (Hub id or directory) instead of a fresh preset"}
    )
    ignore_mismatched_sizes: bool = field(
        default=False, metadata={"help": "re-initialise a checkpoint's head when its number of labels differs"}
    )
    schedule: str | None = field(
        default=None,
        metadata={"help": f"PRS-ViT only: reparameterization schedule, one of {PRS_SCHEDULES} (default linear)"},
    )
    conv_epochs: int = field(default=0, metadata={"help": "PRS-ViT only: E, the number of convolution epochs"})


@dataclass
class DataArguments:
    """Which data to train on and how to augment it."""

    dataset: str = field(
        default="digits",
        metadata={"help": "'digits' (embedded, offline), a Hub id such as 'uoft-cs/cifar10', or a local directory"},
    )
    image_column: str | None = field(default=None, metadata={"help": "image column (default: the first Image)"})
    label_column: str | None = field(default=None, metadata={"help": "label column (default: the first ClassLabel)"})
    train_fraction: float = field(default=1.0, metadata={"help": "class-balanced, seeded fraction of train to use"})
    subset_seed: int = field(default=0, metadata={"help": "seed of the train_fraction subset"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "evaluate on the first N examples only"})
    crop_scale_min: float = field(default=0.35, metadata={"help": "smallest area fraction of the random crop"})
    hflip_prob: float = field(default=0.5, metadata={"help": "probability of a horizontal flip"})
    colour_jitter: float = field(default=0.2, metadata={"help": "strength of brightness/contrast/saturation jitter"})
    no_augmentation: bool = field(default=False, metadata={"help": "train without augmentation"})


def parse_overrides(text: str | None) -> dict[str, Any]:
    """`"a=1,b=mean,c=true"` -> `{"a": 1, "b": "mean", "c": True}` (values parsed as JSON where they can be)."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"config override {item!r} is not of the form field=value")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def build_model(model_args: ModelArguments, label_names: list[str]) -> tuple[PreTrainedModel, Any]:
    """The model to train and its image processor: a fresh preset, or a checkpoint with its own processor."""
    labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names))}
    labels["label2id"] = {name: index for index, name in labels["id2label"].items()}
    if model_args.model_name_or_path:
        config = AutoConfig.from_pretrained(model_args.model_name_or_path, **labels)
        model = AutoModelForImageClassification.from_pretrained(
            model_args.model_name_or_path, config=config, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes
        )
        processor = AutoImageProcessor.from_pretrained(model_args.model_name_or_path)
        return model, processor
    if model_args.model_type not in CONFIG_CLASSES:
        raise ValueError(f"unknown model_type {model_args.model_type!r}; choose one of {sorted(CONFIG_CLASSES)}")
    config_class = CONFIG_CLASSES[model_args.model_type]
    config = config_class.from_preset(model_args.preset, **parse_overrides(model_args.config_overrides), **labels)
    model = AutoModelForImageClassification.from_config(config)
    return model, image_processor_for(config.image_size, config.num_channels)


def compute_accuracy_fn():
    metric = load_accuracy_metric()

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        return metric.compute(predictions=prediction.predictions, references=prediction.label_ids)

    return compute_metrics


def build_trainer(
    model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> ResumableTrainer:
    """Loads the data, builds the model and returns a ready `ResumableTrainer` (nothing is trained yet): atomic
    checkpoints, exact resume (also mid-epoch) and a `NonFiniteLossCallback` that stops a diverged run."""
    set_seed(training_args.seed)
    data = load_image_dataset(data_args.dataset, data_args.image_column, data_args.label_column, seed=0)
    model, processor = build_model(model_args, data.label_names)
    image_size = model.config.image_size
    train_split = class_balanced_subset(
        data.splits["train"], data_args.train_fraction, data.label_column, seed=data_args.subset_seed
    )
    eval_split = data.splits[data.eval_split]
    if data_args.max_eval_samples is not None:
        eval_split = eval_split.select(range(min(data_args.max_eval_samples, len(eval_split))))
    augmentation = None
    if not data_args.no_augmentation:
        jitter = data_args.colour_jitter
        augmentation = BatchAugmentation(
            AugmentationConfig(
                crop_scale=(data_args.crop_scale_min, 1.0),
                hflip_prob=data_args.hflip_prob,
                brightness=jitter,
                contrast=jitter,
                saturation=jitter,
            )
        )
    columns = (data.image_column, data.label_column, image_size)
    train_dataset = DecodedImageDataset(train_split, "train", *columns, batch_transform=augmentation)
    eval_dataset = DecodedImageDataset(eval_split, data.eval_split, *columns)
    training_args.remove_unused_columns = False
    callbacks = [NonFiniteLossCallback()]
    if hasattr(model, "reparameterize"):
        callbacks.append(PRSCallback(model_args.schedule or "linear", model_args.conv_epochs))
    elif model_args.schedule is not None:
        raise ValueError(f"--schedule applies to PRS-ViT only, not to {model.config.model_type}")
    return ResumableTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=ImageClassificationCollator(processor.image_mean, processor.image_std),
        processing_class=processor,
        compute_metrics=compute_accuracy_fn(),
        callbacks=callbacks,
    )


def run(
    model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> tuple[ResumableTrainer, dict[str, float]]:
    """Trains (resuming from `resume_from_checkpoint` if given: a checkpoint directory, `last` for the last complete
    checkpoint of `output_dir`, or `auto` for that checkpoint if there is one), evaluates, saves; returns the trainer
    and the metrics."""
    trainer = build_trainer(model_args, data_args, training_args)
    metrics: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        metrics.update(train_result.metrics)
        trainer.save_model()
        trainer.save_state()
    if training_args.do_eval:
        metrics.update(trainer.evaluate())
    trainer.log_metrics("all", metrics)
    trainer.save_metrics("all", metrics)
    if trainer.is_world_process_zero():
        TrainingSummary.from_run(trainer, model_args, data_args).save(training_args.output_dir)
    return trainer, metrics


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Command-line entry point: `inductive-zoo train --output_dir DIR --do_train --do_eval ...`."""
    _, metrics = run(*parse_args(argv))
    return metrics
