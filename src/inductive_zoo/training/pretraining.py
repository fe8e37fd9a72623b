"""Self-supervised pre-training with `Trainer`, then frozen-feature evaluation and optional fine-tuning.

    inductive-zoo pretrain --objective mim --model_type iso_convnet --preset micro-patch4-32 \
        --dataset ../shared/datasets/cifar10 --train_fraction 0.1 --output_dir outputs/mim --num_train_epochs 10

Pre-trains with masked image modeling (`mim`, Cazenavette & Lucey), DINO (`dino`) or SimCLR (`simclr`), saves the model
and its image processor, measures k-NN and linear-probe accuracy of the frozen backbone before and after pre-training on
a class-balanced memory bank of the training split against the evaluation split, optionally fine-tunes the backbone
with the supervised recipe (`--finetune_epochs`), and writes everything to `pretraining_results.json`.
"""

import dataclasses
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForMaskedImageModeling, HfArgumentParser, TrainingArguments, set_seed

from ..data import (
    DecodedImageDataset,
    MaskedImageModelingCollator,
    class_balanced_subset,
    image_processor_for,
    load_image_dataset,
)
from ..data.views import MultiViewCollator, MultiViewConfig
from ..evaluation import extract_features, held_out_reconstruction_loss, knn_accuracy, linear_probe_accuracy
from ..models.registry import manifest_for
from ..objectives.joint_embedding import SELF_SUPERVISED_MODELS
from .atomic_writes import write_json_atomic
from .checkpointing import ResumableTrainer
from .dino_teacher import DINOTeacherCallback
from .image_classification import CONFIG_CLASSES, DataArguments, ModelArguments, parse_overrides
from .image_classification import run as run_classification
from .knn_monitor import KNNMonitorCallback
from .nan_guard import NonFiniteLossCallback
from .precision import PrecisionChoice, resolve_precision_arguments
from .pretraining_data import pretraining_indices, write_pretraining_data
from .prs_switches import PRSCallback
from .records import PRETRAINING_RESULTS_FILE, describe_hardware, repeatable_command
from .wall_clock import WallClockCallback, training_wall_time

logger = logging.getLogger(__name__)

OBJECTIVES = ("mim", "dino", "simclr")


@dataclass
class PretrainingArguments:
    """What to pre-train and how to evaluate it."""

    objective: str = field(default="mim", metadata={"help": f"one of {OBJECTIVES}"})
    model_type: str = field(default="iso_transformer", metadata={"help": f"one of {sorted(CONFIG_CLASSES)}"})
    preset: str = field(default="micro-patch4-32", metadata={"help": "named preset of the variant's config"})
    config_overrides: str | None = field(
        default=None, metadata={"help": "e.g. 'num_hidden_layers=2,mim_mask_ratio=0.5'"}
    )
    dataset: str = field(default="digits", metadata={"help": "'digits', a Hub id or a local directory"})
    train_fraction: float = field(default=1.0, metadata={"help": "class-balanced, seeded fraction of train to use"})
    subset_seed: int = field(default=0, metadata={"help": "seed of the train_fraction subset"})
    exclude_train_fraction: float | None = field(
        default=None,
        metadata={
            "help": "pre-train on the training images outside this class-balanced fraction (seed "
            "subset_seed), e.g. 0.1: the other 90 %% of CIFAR-10 when fine-tuning on the 10 %% subset"
        },
    )
    exclude_validation_size: int | None = field(
        default=None,
        metadata={
            "help": "with exclude_train_fraction, also leave out the validation split that fine-tuning with "
            "--validation_size N holds out, so that it can be tuned on images the backbone has not seen"
        },
    )
    num_local_views: int = field(default=6, metadata={"help": "DINO local views (0 for IsoMixer and IBiT)"})
    schedule: str | None = field(default=None, metadata={"help": "PRS-ViT only: reparameterization schedule"})
    conv_epochs: int = field(default=0, metadata={"help": "PRS-ViT only: convolution epochs"})
    knn_every_n_epochs: int = field(default=0, metadata={"help": "k-NN monitor during pre-training (0: off)"})
    eval_bank_size: int = field(default=5000, metadata={"help": "training images in the k-NN / probe memory bank"})
    eval_size: int = field(default=2000, metadata={"help": "evaluation images for k-NN and the linear probe"})
    finetune_epochs: int = field(default=0, metadata={"help": "fine-tune the pre-trained backbone (0: skip)"})
    # Set by `parse_args`, recorded in `pretraining_results.json` (not command-line options).
    precision_choice: PrecisionChoice | None = field(default=None, init=False)
    command: list[str] | None = field(default=None, init=False)


def build_pretraining_model(args: PretrainingArguments) -> torch.nn.Module:
    if args.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {args.objective!r}")
    if args.model_type not in CONFIG_CLASSES:
        raise ValueError(f"unknown model_type {args.model_type!r}; choose one of {sorted(CONFIG_CLASSES)}")
    config_class = CONFIG_CLASSES[args.model_type]
    config = config_class.from_preset(args.preset, **parse_overrides(args.config_overrides))
    if args.objective == "mim":
        return AutoModelForMaskedImageModeling.from_config(config)
    return SELF_SUPERVISED_MODELS[args.objective](config)


def collator_for(args: PretrainingArguments, config: Any, mean: list[float], std: list[float]):
    if args.objective == "mim":
        return MaskedImageModelingCollator.from_config(config, mean, std)
    if args.objective == "simclr":
        return MultiViewCollator(MultiViewConfig.simclr(config.image_size), mean, std)
    local_views = 0 if not manifest_for(config).model_class.runs_at_any_image_size else args.num_local_views
    patch = getattr(config, "patch_size", 1)
    return MultiViewCollator(MultiViewConfig.dino(config.image_size, local_views, patch), mean, std)


def evaluate_representation(
    model: torch.nn.Module, bank: DecodedImageDataset, held_out: DecodedImageDataset, objective: str
) -> dict[str, float]:
    """k-NN and linear-probe accuracy of the frozen backbone (memory bank `bank`, queries `held_out`) and, for `mim`,
    the reconstruction loss on `held_out` with fixed masks (`evaluation.held_out_reconstruction_loss`)."""
    train_features, train_labels = extract_features(model, bank)
    test_features, test_labels = extract_features(model, held_out)
    results = {
        "knn_accuracy": knn_accuracy(train_features, train_labels, test_features, test_labels),
        "linear_probe_accuracy": linear_probe_accuracy(train_features, train_labels, test_features, test_labels),
    }
    if objective == "mim":
        results["reconstruction_loss"] = held_out_reconstruction_loss(model, held_out)
    return results


def pretraining_split(train: Any, args: PretrainingArguments, label_column: str) -> Any:
    """The images to pre-train on (`pretraining_data.pretraining_indices`; labels are never used by the objectives)."""
    indices = pretraining_indices(
        np.asarray(train[label_column]),
        args.train_fraction,
        args.exclude_train_fraction,
        args.exclude_validation_size,
        args.subset_seed,
    )
    return train if len(indices) == len(train) else train.select(indices)


def frozen_feature_evaluation_sets(
    data: Any, train_split: Any, args: PretrainingArguments, image_size: int
) -> tuple[DecodedImageDataset, DecodedImageDataset]:
    """The k-NN / linear-probe memory bank (a class-balanced `eval_bank_size` of the pre-training images, seed
    `subset_seed`) and the first `eval_size` images of the dataset's evaluation split."""
    columns = (data.image_column, data.label_column, image_size)
    bank_fraction = min(1.0, args.eval_bank_size / len(train_split))
    bank = DecodedImageDataset(
        class_balanced_subset(train_split, bank_fraction, data.label_column, args.subset_seed), "train", *columns
    )
    eval_split = data.splits[data.eval_split]
    held_out = DecodedImageDataset(
        eval_split.select(range(min(args.eval_size, len(eval_split)))), data.eval_split, *columns
    )
    return bank, held_out


def run(args: PretrainingArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Pre-trains, evaluates frozen features before and after, optionally fine-tunes; returns the results."""
    set_seed(training_args.seed)
    data = load_image_dataset(args.dataset, seed=0)
    model = build_pretraining_model(args)
    config = model.config
    processor = image_processor_for(config.image_size, config.num_channels)
    columns = (data.image_column, data.label_column, config.image_size)
    train_split = pretraining_split(data.splits["train"], args, data.label_column)
    selection = {
        "train_fraction": args.train_fraction,
        "exclude_train_fraction": args.exclude_train_fraction,
        "exclude_validation_size": args.exclude_validation_size,
        "subset_seed": args.subset_seed,
    }
    if training_args.process_index == 0:
        labels = np.asarray(data.splits["train"][data.label_column])
        write_pretraining_data(training_args.output_dir, args.dataset, labels, selection)
    bank, held_out = frozen_feature_evaluation_sets(data, train_split, args, config.image_size)

    results: dict[str, Any] = {
        "objective": args.objective, "model_type": args.model_type, "preset": args.preset,
        "config_overrides": args.config_overrides, "dataset": args.dataset, "train_images": len(train_split),
        "bank_images": len(bank), "eval_split": data.eval_split, "eval_images": len(held_out),
    }  # fmt: skip
    results["initial"] = evaluate_representation(model, bank, held_out, args.objective)

    callbacks = [NonFiniteLossCallback(), WallClockCallback()]
    if args.objective == "dino":
        callbacks.append(DINOTeacherCallback())
    if hasattr(model, "layer_modes"):
        callbacks.append(PRSCallback(args.schedule or "linear", args.conv_epochs))
    if args.knn_every_n_epochs:
        callbacks.append(KNNMonitorCallback(bank, held_out, every_n_epochs=args.knn_every_n_epochs))
    training_args.remove_unused_columns = False
    trainer = ResumableTrainer(
        model=model,
        args=training_args,
        train_dataset=DecodedImageDataset(train_split, "train", *columns),
        data_collator=collator_for(args, config, processor.image_mean, processor.image_std),
        processing_class=processor,
        callbacks=callbacks,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    trainer.save_state()
    results["train_loss"] = train_result.metrics["train_loss"]
    # What the backbone's card reports: the time of every resumed part, the machine, the precision and the command
    # (without its output directory) that repeats the run.
    results["training_time_s"] = training_wall_time(trainer.state.log_history) or train_result.metrics["train_runtime"]
    results["hardware"] = describe_hardware(training_args.device)
    results["precision"] = args.precision_choice.describe() if args.precision_choice else None
    results["command"] = args.command
    results["losses"] = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    results["pretrained"] = evaluate_representation(model, bank, held_out, args.objective)

    if args.finetune_epochs:
        finetune_args = dataclasses.replace(
            training_args, output_dir=str(Path(training_args.output_dir) / "finetune"),
            num_train_epochs=args.finetune_epochs, resume_from_checkpoint=None, do_train=True, do_eval=True,
        )  # fmt: skip
        _, metrics = run_classification(
            ModelArguments(model_name_or_path=training_args.output_dir),
            DataArguments(
                dataset=args.dataset,
                train_fraction=args.train_fraction,
                subset_seed=args.subset_seed,
                max_eval_samples=args.eval_size,
            ),
            finetune_args,
        )
        results["finetuned_accuracy"] = metrics["eval_accuracy"]
    if trainer.is_world_process_zero():
        write_json_atomic(Path(training_args.output_dir) / PRETRAINING_RESULTS_FILE, results)
    logger.info("pre-training results: %s", results)
    return results


def parse_args(argv: list[str] | None = None) -> tuple[PretrainingArguments, TrainingArguments]:
    """The pre-training arguments; `--precision auto|bf16|fp32` (default auto, `training.precision`) is resolved
    into `--bf16` for this machine, as for the supervised recipe."""
    argv = sys.argv[1:] if argv is None else argv
    arguments, choice = resolve_precision_arguments(argv)
    logger.warning(f"precision: {choice.describe()}")
    args, training_args = HfArgumentParser((PretrainingArguments, TrainingArguments)).parse_args_into_dataclasses(
        args=arguments
    )
    args.precision_choice, args.command = choice, repeatable_command(argv)
    return args, training_args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point: `inductive-zoo pretrain --objective mim --output_dir DIR ...`."""
    return run(*parse_args(argv))
