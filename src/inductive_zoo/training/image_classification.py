"""Supervised image classification with `Trainer`: the recipe behind `inductive-zoo train` and `inductive-zoo demo`.

In the style of transformers' example scripts: three argument dataclasses parsed by `HfArgumentParser`
(`ModelArguments`, `DataArguments`, `TrainingArguments`), a model built from a preset or loaded from a checkpoint,
batched tensor augmentation on the training split, top-1/top-5 accuracy through the package's offline `evaluate`
metric, and a final `save_model` that writes `config.json`, `model.safetensors` and `preprocessor_config.json`.
"""

import dataclasses
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import (
    CONFIG_MAPPING,
    MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING,
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    EvalPrediction,
    HfArgumentParser,
    PreTrainedModel,
    TrainingArguments,
    set_seed,
)

from ..data import (
    AugmentationConfig,
    BatchAugmentation,
    DecodedImageDataset,
    ImageClassificationCollator,
    ImageClassificationData,
    MixupCutmixCollator,
    MixupCutmixConfig,
    class_balanced_indices,
    held_out_indices,
    image_processor_for,
    load_image_dataset,
    with_unlabelled_images,
)
from ..evaluation.test_time_augmentation import check_tta_level, tta_evaluation
from ..metrics import load_accuracy_metric
from ..models.classification import soft_target_cross_entropy
from ..models.registry import MANIFESTS
from ..objectives.distillation import DISTILLATION_KINDS, DistillationLoss
from .checkpointing import ResumableTrainer
from .config_overrides import check_override_fields, checkpoint_changes, parse_overrides
from .distillation import DistillationTrainer, load_teacher
from .ema import ModelEMACallback
from .nan_guard import NonFiniteLossCallback
from .precision import PRECISIONS, PrecisionChoice, resolve_precision_arguments
from .pretraining_data import check_evaluation_not_pretrained_on
from .prs_switches import PRS_SCHEDULES, PRSCallback
from .recipes import expand_recipe_argument
from .records import TrainingSummary, describe_precision, repeatable_command
from .wall_clock import WallClockCallback, training_wall_time
from .whitening import whiten_first_convolution

logger = logging.getLogger(__name__)

CONFIG_CLASSES = {manifest.model_type: manifest.config_class for manifest in MANIFESTS}
DEFAULT_PRESET = "micro-patch4-32"
# Training images (the first of the subset, unaugmented) whose patches set the whitening initialisation.
WHITENING_IMAGES = 5000
# Evaluation images on which PRS-ViT's switched blocks are measured after every epoch (`PRSCallback`).
PRS_DIAGNOSTIC_IMAGES = 256


@dataclass
class ModelArguments:
    """Which model to train: a variant and preset, or an existing checkpoint to fine-tune."""

    recipe: str | None = field(
        default=None,
        metadata={
            "help": "a named recipe of the catalogue (`inductive_zoo.training.recipes`); the other arguments "
            "override it"
        },
    )
    model_type: str = field(
        default="iso_transformer",
        metadata={
            "help": f"variant to build, one of {sorted(CONFIG_CLASSES)}, or a transformers model type "
            "(e.g. vit, resnet) for a baseline built from its default config and --config_overrides"
        },
    )
    image_size: int | None = field(
        default=None,
        metadata={
            "help": "train at this image side: with --model_name_or_path the checkpoint moves to it, keeping what it "
            "learned (position embeddings resampled; `set_image_size`); for a fresh model it sets config image_size "
            "(or the images' side for a baseline whose config has none, transformers' ResNet)"
        },
    )
    preset: str | None = field(
        default=None,
        metadata={"help": f"named preset of the variant's config (default {DEFAULT_PRESET}); a fresh model only"},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "comma-separated config fields over the preset, e.g. 'pooling=mean,num_hidden_layers=6'; with "
            "--recipe, added to the recipe's own (these win). With --model_name_or_path only fields that can change "
            "after training (image size, dropout, stochastic depth) are accepted"
        },
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
    model_ema_decay: float | None = field(
        default=None,
        metadata={
            "help": "keep an exponential moving average of the weights with this decay; it is what is "
            "evaluated and saved (e.g. 0.999)"
        },
    )
    precision: str = field(
        default="auto",
        metadata={
            "help": f"one of {PRECISIONS}: auto trains in bf16 autocast on a CUDA GPU with bf16 and on a CPU with "
            "native bf16 (AMX or AVX-512 BF16), in fp32 elsewhere; --bf16 true/false sets it too (the last wins)"
        },
    )
    whitening_init: bool = field(
        default=False,
        metadata={
            "help": "set the first convolution over the image channels (patch embedding, stem) to whitening filters "
            "of the training images' patches (`training.whitening`); a fresh model only"
        },
    )
    channels_last: bool = field(
        default=False, metadata={"help": "train in the channels-last memory format (faster convolutions on CPU)"}
    )
    distillation_teacher: str | None = field(
        default=None,
        metadata={
            "help": "distil from this trained classifier (Hub id or directory) of the same classes and images: the "
            "loss adds its predictions on every augmented batch (`objectives.distillation`)"
        },
    )
    distillation_kind: str = field(
        default="hard",
        metadata={"help": f"with --distillation_teacher: one of {DISTILLATION_KINDS} (DeiT's hard labels, or KL)"},
    )
    distillation_alpha: float = field(
        default=0.5, metadata={"help": "with --distillation_teacher: weight of the distillation term, in [0, 1]"}
    )
    distillation_temperature: float = field(
        default=1.0, metadata={"help": "with --distillation_teacher and kind soft: the temperature T"}
    )
    # The precision the run uses and why (`training.precision.choose_precision`), set by `parse_args`.
    precision_choice: PrecisionChoice | None = field(default=None, init=False)
    # The config fields `build_model` changed on a checkpoint (`--config_overrides`, `--image_size`), as recorded.
    checkpoint_changes: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.distillation_loss()  # checks the distillation options before anything is loaded
        if self.whitening_init and self.model_name_or_path:
            raise ValueError("whitening_init sets a fresh model's first convolution; drop it to fine-tune a checkpoint")
        if self.preset is not None and self.model_name_or_path:
            raise ValueError(
                f"--preset {self.preset} builds a fresh model and cannot apply to --model_name_or_path "
                f"{self.model_name_or_path} (the checkpoint keeps its architecture); drop --preset, or drop "
                "--model_name_or_path to train the preset from scratch"
            )

    def distillation_loss(self) -> DistillationLoss | None:
        """The distillation loss of `--distillation_teacher` (`None` without a teacher); bad settings raise
        `ValueError` naming the option."""
        if self.distillation_teacher is None:
            return None
        return DistillationLoss(self.distillation_kind, self.distillation_alpha, self.distillation_temperature)

    @property
    def fresh_preset(self) -> str:
        """The preset a fresh model is built from."""
        return self.preset or DEFAULT_PRESET


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
    epoch_eval_samples: int | None = field(
        default=None,
        metadata={
            "help": "evaluations during training (--eval_strategy) use the first N evaluation examples; the "
            "final evaluation uses all of them (e.g. 2000 of CIFAR-10's 10,000 test images)"
        },
    )
    validation_size: int | None = field(
        default=None,
        metadata={
            "help": "for tuning: evaluate on a class-balanced, seeded split of this many training images "
            "outside the train_fraction subset instead of the test split"
        },
    )
    # `str` in the union makes the command line accept 'all' and 'none'.
    unlabelled_images: int | str | None = field(
        default=None,
        metadata={
            "help": "with --distillation_teacher: also train on this many training images outside the "
            "train_fraction subset and the validation split, without their labels ('all': every one); the teacher's "
            "predictions are their only target (semi-supervised distillation)"
        },
    )
    # How many unlabelled training images the run uses (`unlabelled_images` resolved), set with the splits.
    unlabelled_count: int = field(default=0, init=False)
    crop_scale_min: float = field(default=0.35, metadata={"help": "smallest area fraction of the random crop"})
    # `str` in the union makes the command line accept 'none' (HfArgumentParser then parses the field as a string).
    crop_padding: int | str | None = field(
        default=None,
        metadata={
            "help": "crop by shifting up to N pixels (reflection padding) instead of the random resized crop; "
            "'none' turns a recipe's padded crop back into the random resized crop"
        },
    )
    hflip_prob: float = field(default=0.5, metadata={"help": "probability of a horizontal flip"})
    colour_jitter: float = field(default=0.2, metadata={"help": "strength of brightness/contrast/saturation jitter"})
    auto_augment: str | None = field(
        default=None,
        metadata={
            "help": "'randaugment' or 'trivialaugment' (kornia's), after the crop; 'none' turns off a recipe's policy"
        },
    )
    randaugment_num_ops: int = field(default=2, metadata={"help": "RandAugment: operations per image (N)"})
    randaugment_magnitude: int = field(default=9, metadata={"help": "RandAugment: magnitude M out of 30"})
    random_erasing_prob: float = field(default=0.0, metadata={"help": "probability of random erasing per image"})
    mixup_alpha: float = field(default=0.0, metadata={"help": "mixup Beta(alpha, alpha); 0 disables mixup"})
    cutmix_alpha: float = field(default=0.0, metadata={"help": "CutMix Beta(alpha, alpha); 0 disables CutMix"})
    mixup_prob: float = field(default=1.0, metadata={"help": "probability that a batch is mixed"})
    mixup_switch_prob: float = field(
        default=0.5, metadata={"help": "probability of CutMix instead of mixup when both are enabled"}
    )
    no_augmentation: bool = field(default=False, metadata={"help": "train without augmentation"})
    alternating_flip: bool = field(
        default=False,
        metadata={"help": "mirror each training image in every other epoch instead of at random (hflip_prob unused)"},
    )
    keep_decoded: bool = field(
        default=False,
        metadata={"help": "keep the decoded training images in memory (uint8) after their first epoch"},
    )
    tta_level: int = field(
        default=0,
        metadata={
            "help": "also report the final evaluation with test-time augmentation (eval_tta_*): 0 none, 1 mirror, "
            "2 mirror and one-pixel shifts (`evaluation.test_time_augmentation`)"
        },
    )
    per_image_draws: bool = field(
        default=True,
        metadata={
            "help": "draw each image's augmentation from (seed, epoch, image index), so that a run on several "
            "processes augments like one process; false: one draw per batch (cheaper)"
        },
    )

    def __post_init__(self) -> None:
        # 'none' is the command line's spelling of None, to override a recipe's setting.
        if self.auto_augment == "none":
            self.auto_augment = None
        if self.crop_padding == "none":
            self.crop_padding = None
        elif isinstance(self.crop_padding, str):
            try:
                self.crop_padding = int(self.crop_padding)
            except ValueError:
                message = f"crop_padding must be a number of pixels or 'none', got {self.crop_padding!r}"
                raise ValueError(message) from None
        check_tta_level(self.tta_level)
        if self.unlabelled_images == "none":
            self.unlabelled_images = None
        elif isinstance(self.unlabelled_images, str) and self.unlabelled_images != "all":
            try:
                self.unlabelled_images = int(self.unlabelled_images)
            except ValueError:
                value = self.unlabelled_images
                message = f"unlabelled_images must be a number of images, 'all' or 'none', got {value!r}"
                raise ValueError(message) from None
        if isinstance(self.unlabelled_images, int) and self.unlabelled_images < 1:
            raise ValueError(f"unlabelled_images must be positive (or 'all'), got {self.unlabelled_images}")

    def augmentation_config(self) -> AugmentationConfig | None:
        """The image augmentation of the training split (`None` with `no_augmentation`)."""
        if self.no_augmentation:
            return None
        jitter = self.colour_jitter
        return AugmentationConfig(
            crop_scale=(self.crop_scale_min, 1.0),
            crop_padding=self.crop_padding,
            hflip_prob=self.hflip_prob,
            brightness=jitter,
            contrast=jitter,
            saturation=jitter,
            jitter_prob=0.8 if jitter > 0 else 0.0,
            auto_augment=self.auto_augment,
            randaugment_num_ops=self.randaugment_num_ops,
            randaugment_magnitude=self.randaugment_magnitude,
            random_erasing_prob=self.random_erasing_prob,
            alternating_flip=self.alternating_flip,
            per_image_draws=self.per_image_draws,
        )

    def mixing_config(self, label_smoothing: float) -> MixupCutmixConfig:
        """Mixup/CutMix of the training batches, with targets smoothed by `label_smoothing` (the recipe passes
        `TrainingArguments.label_smoothing_factor`)."""
        return MixupCutmixConfig(
            mixup_alpha=self.mixup_alpha,
            cutmix_alpha=self.cutmix_alpha,
            prob=self.mixup_prob,
            switch_prob=self.mixup_switch_prob,
            label_smoothing=label_smoothing,
        )


def build_model(model_args: ModelArguments, label_names: list[str]) -> tuple[PreTrainedModel, Any]:
    """The model to train and its image processor: a fresh preset, or a checkpoint with its own processor."""
    labels = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names))}
    labels["label2id"] = {name: index for index, name in labels["id2label"].items()}
    # Explicit, so that no float targets could ever switch a trained model (and its pipeline) to multi-label; also
    # for a fine-tuned checkpoint (a pre-trained backbone's config has no problem type).
    labels["problem_type"] = "single_label_classification"
    overrides = parse_overrides(model_args.config_overrides)
    if model_args.model_name_or_path:
        return load_checkpoint(model_args, overrides, labels)
    if model_args.image_size is not None:
        overrides.setdefault("image_size", model_args.image_size)
    if model_args.model_type in CONFIG_CLASSES:
        config_class = CONFIG_CLASSES[model_args.model_type]
        check_override_fields(config_class, overrides)
        config = config_class.from_preset(model_args.fresh_preset, **overrides, **labels)
    elif model_args.model_type in CONFIG_MAPPING:
        config_class = CONFIG_MAPPING[model_args.model_type]
        if "image_size" not in {field.name for field in dataclasses.fields(config_class)}:
            overrides.pop("image_size", None)
        check_override_fields(config_class, overrides)
        config = AutoConfig.for_model(model_args.model_type, **overrides, **labels)
    else:
        raise ValueError(
            f"unknown model_type {model_args.model_type!r}; choose one of {sorted(CONFIG_CLASSES)} or a transformers "
            "model type"
        )
    model = AutoModelForImageClassification.from_config(config)
    image_size = getattr(config, "image_size", None) or model_args.image_size
    if image_size is None:
        raise ValueError(f"{model_args.model_type} configs have no image_size; pass --image_size")
    return model, image_processor_for(image_size, config.num_channels)


def load_checkpoint(
    model_args: ModelArguments, overrides: dict[str, Any], labels: dict[str, Any]
) -> tuple[PreTrainedModel, Any]:
    """A checkpoint to fine-tune, with the config changes it can take (`checkpoint_changes`: image size, dropout,
    stochastic depth; anything else is refused by name) and its image processor resized to the model's images.
    The changes are recorded in `model_args.checkpoint_changes`."""
    path = model_args.model_name_or_path
    config = AutoConfig.from_pretrained(path)
    if model_args.image_size is not None:
        overrides = {**overrides, "image_size": model_args.image_size}
    # A model without a configured image size (transformers' ResNet) takes any: only the images are resized.
    images_only = {}
    if not hasattr(config, "image_size") and overrides.get("image_size") is not None:
        images_only["image_size"] = overrides.pop("image_size")
    changes = checkpoint_changes(config, overrides)
    model_class = MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING.get(type(config), None)
    if "image_size" in changes and not hasattr(model_class, "set_image_size"):
        raise ValueError(
            f"--image_size: {type(config).__name__} checkpoints cannot move to another image size here (only the "
            f"zoo's models can); fine-tune {path} at its image_size {config.image_size}"
        )
    # Rebuilt from the dict, so the changed values are checked like a fresh config's.
    config = type(config).from_dict({**config.to_dict(), **labels, **changes})
    model = AutoModelForImageClassification.from_pretrained(
        path, config=config, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes
    )
    processor = AutoImageProcessor.from_pretrained(path)
    image_size = getattr(model.config, "image_size", None) or images_only.get("image_size")
    if image_size is not None and getattr(processor.size, "height", None) not in (None, image_size):
        processor = AutoImageProcessor.from_pretrained(path, size={"height": image_size, "width": image_size})
    model_args.checkpoint_changes = {**changes, **images_only}
    return model, processor


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
    image_size = getattr(model.config, "image_size", None) or model_args.image_size
    mixing = data_args.mixing_config(training_args.label_smoothing_factor)
    if data_args.unlabelled_images is not None:
        if model_args.distillation_teacher is None:
            raise ValueError(
                "unlabelled_images needs --distillation_teacher: the teacher's predictions are the only target of "
                "an unlabelled image"
            )
        if mixing.enabled:
            raise ValueError("unlabelled_images cannot be used with mixup/CutMix (they mix labels that are absent)")
    train_split, eval_split, eval_name = training_and_evaluation_splits(data, data_args, model_args.model_name_or_path)
    augmentation_config = data_args.augmentation_config()
    augmentation = BatchAugmentation(augmentation_config) if augmentation_config is not None else None
    columns = (data.image_column, data.label_column, image_size)
    keep = {"keep_decoded": data_args.keep_decoded}
    train_dataset = DecodedImageDataset(train_split, "train", *columns, batch_transform=augmentation, **keep)
    eval_dataset = DecodedImageDataset(eval_split, eval_name, *columns, **keep)
    training_args.remove_unused_columns = False
    callbacks = [NonFiniteLossCallback(), WallClockCallback()]
    collator = ImageClassificationCollator(processor.image_mean, processor.image_std)
    if model_args.whitening_init:
        # Unaugmented, through the training set's own decoding (and cache, with keep_decoded).
        images, _ = train_dataset.decoded_batch(list(range(min(WHITENING_IMAGES, len(train_dataset)))))
        pixel_values = collator.pixel_values([{"image": image} for image in images.float().div_(255.0)])
        whiten_first_convolution(model, pixel_values)
    distillation = model_args.distillation_loss()
    teacher = load_teacher(model_args.distillation_teacher, model, processor) if distillation is not None else None
    if model_args.channels_last:
        for module in filter(None, (model, teacher)):
            convolutions_to_channels_last(module)
    if hasattr(model, "layer_modes"):
        # A fixed batch of evaluation images for the per-epoch diagnostics of the switched blocks.
        diagnostic_images = eval_dataset.__getitems__(list(range(min(PRS_DIAGNOSTIC_IMAGES, len(eval_dataset)))))
        diagnostic_pixels = collator(diagnostic_images)["pixel_values"]
        callbacks.append(PRSCallback(model_args.schedule or "linear", model_args.conv_epochs, diagnostic_pixels))
    elif model_args.schedule is not None:
        raise ValueError(f"--schedule applies to PRS-ViT only, not to {model.config.model_type}")
    if model_args.model_ema_decay is not None:
        callbacks.append(ModelEMACallback(model_args.model_ema_decay))
    train_collator = None
    if mixing.enabled:
        train_collator = MixupCutmixCollator(collator, model.config.num_labels, mixing)
    epoch_eval_dataset = eval_dataset
    if data_args.epoch_eval_samples is not None:
        epoch_eval_dataset = DecodedImageDataset(
            eval_split.select(range(min(data_args.epoch_eval_samples, len(eval_split)))), eval_name, *columns, **keep
        )
    teacher_arguments = {"teacher": teacher, "distillation": distillation} if distillation is not None else {}
    trainer = (DistillationTrainer if distillation is not None else ResumableTrainer)(
        **teacher_arguments,
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=epoch_eval_dataset,
        data_collator=collator,
        train_data_collator=train_collator,
        processing_class=processor,
        compute_metrics=compute_accuracy_fn(),
        compute_loss_func=soft_target_cross_entropy if train_collator is not None else None,
        callbacks=callbacks,
    )
    if train_collator is not None:
        trainer.loss_is_scaled_for_ga = False  # soft_target_cross_entropy is a per-batch mean
    trainer.final_eval_dataset = eval_dataset
    return trainer


def convolutions_to_channels_last(model: torch.nn.Module) -> None:
    """Puts the 2-D convolutions of `model` in the channels-last memory format (only those: `Module.to(memory_format=
    ...)` on a whole model refuses a parameter of another rank, CADA-ResNet's 5-D bases)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.to(memory_format=torch.channels_last)


def training_and_evaluation_splits(
    data: ImageClassificationData, data_args: DataArguments, checkpoint: str | None = None
) -> tuple[Any, Any, str]:
    """The training subset, the evaluation split (the dataset's own, or with `validation_size` a class-balanced
    split of training images outside the subset) and its name; `max_eval_samples` cuts the evaluation split. A
    validation split that the fine-tuned `checkpoint` was pre-trained on is refused
    (`pretraining_data.check_evaluation_not_pretrained_on`). With `unlabelled_images`, the training split goes on
    with that many other training images, outside the validation split, labelled `UNLABELLED`
    (`data.with_unlabelled_images`); their number is set in `data_args.unlabelled_count`."""
    train_full = data.splits["train"]
    labels = np.asarray(train_full[data.label_column])
    train_indices = class_balanced_indices(labels, data_args.train_fraction, seed=data_args.subset_seed)
    train_split = train_full if data_args.train_fraction == 1.0 else train_full.select(train_indices)
    eval_indices: list[int] = []
    if data_args.validation_size is None:
        eval_split, eval_name = data.splits[data.eval_split], data.eval_split
    else:
        eval_indices = held_out_indices(labels, train_indices, data_args.validation_size)
        eval_split, eval_name = train_full.select(eval_indices), "validation"
        if checkpoint is not None:
            check_evaluation_not_pretrained_on(checkpoint, labels, eval_indices, eval_name)
    if data_args.unlabelled_images is not None:
        count = None if data_args.unlabelled_images == "all" else data_args.unlabelled_images
        train_split, data_args.unlabelled_count = with_unlabelled_images(
            train_full, train_indices, eval_indices, count, data.label_column, seed=data_args.subset_seed
        )
    if data_args.max_eval_samples is not None:
        eval_split = eval_split.select(range(min(data_args.max_eval_samples, len(eval_split))))
    return train_split, eval_split, eval_name


def run(
    model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> tuple[ResumableTrainer, dict[str, float]]:
    """Trains (resuming from `resume_from_checkpoint` if given: a checkpoint directory, `last` for the last complete
    checkpoint of `output_dir`, or `auto` for that checkpoint if there is one), evaluates, saves; returns the trainer
    and the metrics."""
    trainer = build_trainer(model_args, data_args, training_args)
    if trainer.is_world_process_zero():
        logger.warning(f"precision: {describe_precision(model_args, training_args)}")
    metrics: dict[str, float] = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        metrics.update(train_result.metrics)
        trainer.save_model()
        trainer.save_state()
    if training_args.do_eval:
        # The final evaluation covers the whole evaluation split (training may have used a slice of it).
        trainer.eval_dataset = trainer.final_eval_dataset
        metrics.update(trainer.evaluate())
        if data_args.tta_level:
            with tta_evaluation(trainer.model, data_args.tta_level):
                metrics.update(trainer.evaluate(metric_key_prefix="eval_tta"))
    trainer.log_metrics("all", metrics)
    trainer.save_metrics("all", metrics)
    if trainer.is_world_process_zero():
        training_time = training_wall_time(trainer.state.log_history) or metrics.get("train_runtime")
        summary = TrainingSummary.from_run(trainer, model_args, data_args, training_time)
        summary.save(training_args.output_dir)
    return trainer, metrics


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """The recipe's arguments; `--recipe NAME` expands to that recipe's, which the other arguments override."""
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv or "--help-all" in argv:
        # transformers' TrainingArguments alone add some 700 lines; `--help` shows the recipe's own arguments.
        every = "--help-all" in argv
        types = (ModelArguments, DataArguments, TrainingArguments) if every else (ModelArguments, DataArguments)
        HfArgumentParser(types, prog="inductive-zoo train", description=TRAIN_HELP, epilog=TRAIN_EPILOG).print_help()
        sys.exit(0)
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments), prog="inductive-zoo train")
    arguments, choice = resolve_precision_arguments(expand_recipe_argument(argv))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(
        args=[*arguments, "--precision", choice.requested]
    )
    model_args.precision_choice = choice
    model_args.command = repeatable_command(argv)
    return model_args, data_args, training_args


TRAIN_HELP = (
    "Trains or fine-tunes an image classifier with Trainer: a recipe (--recipe NAME; `inductive-zoo recipes` lists "
    "them), a fresh variant (--model_type, --preset, --config_overrides) or a checkpoint (--model_name_or_path, "
    "optionally at another --image_size), on a Hub dataset, an image folder or local parquet files (--dataset)."
)
TRAIN_EPILOG = (
    "Every option of transformers' TrainingArguments is accepted as well (--output_dir, --num_train_epochs, "
    "--learning_rate, --per_device_train_batch_size, --resume_from_checkpoint auto, ...); --help-all lists them."
)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Command-line entry point: `inductive-zoo train --output_dir DIR --do_train --do_eval ...`."""
    _, metrics = run(*parse_args(argv))
    return metrics
