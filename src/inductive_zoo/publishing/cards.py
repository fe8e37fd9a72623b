"""Model cards: one Jinja template per variant in the project's `model_cards/` folder (`inductive_zoo.model_cards` once
installed), rendered into a
`huggingface_hub.ModelCard` whose metadata (`ModelCardData`) carries the library, pipeline tag, license, tags,
datasets, metrics, widget examples and a `model-index` filled from the checkpoint's evaluation results."""

import math
import os
import shlex
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .. import model_cards
from ..models.registry import manifest_for
from ..training.config_overrides import overrides_text, parse_overrides
from ..training.recipes import RECIPES
from ..training.records import PretrainingRecord, TrainingSummary

# The templates' folder: the top-level `model_cards/`, mapped into the package (pyproject's package-dir).
MODEL_CARDS_DIR = Path(str(resources.files(model_cards)))
DEFAULT_LICENSE = "apache-2.0"
# Metrics reported in the card, by the Trainer's key: (model-index metric type, display name).
CARD_METRICS = {
    "eval_accuracy": ("accuracy", "Top-1 accuracy"),
    "eval_top5_accuracy": ("top_5_accuracy", "Top-5 accuracy"),
    "eval_tta_accuracy": ("accuracy", "Top-1 accuracy with test-time augmentation"),
    "eval_tta_top5_accuracy": ("top_5_accuracy", "Top-5 accuracy with test-time augmentation"),
}
# Readable names of datasets the recipe accepts by a name that is not a Hub id.
DATASET_NAMES = {"digits": "scikit-learn handwritten digits (upsampled to 32x32 RGB)"}
# How a published repository loads: with our package, with trust_remote_code, or as a transformers architecture.
LOADING_MODES = ("package", "remote_code", "transformers_native")
# The self-supervised objectives of `inductive-zoo pretrain`, in words for a backbone's card.
OBJECTIVE_NAMES = {
    "mim": "masked image modeling (the pixels of masked patches reconstructed)",
    "dino": "DINO (self-distillation between views)",
    "simclr": "SimCLR (contrastive learning between views)",
}
# A released backbone's frozen-feature metrics, by `PretrainingRecord.pretrained` key: (metric type, display name).
BACKBONE_METRICS = {
    "knn_accuracy": ("accuracy", "k-NN top-1 accuracy (frozen features)"),
    "linear_probe_accuracy": ("accuracy", "Linear-probe top-1 accuracy (frozen features)"),
}


@dataclass(frozen=True)
class CardInputs:
    """Everything a card is rendered from: the repository, the model's config, how it loads, its evaluation metrics
    (`eval_*` as written by `Trainer`; empty when published unevaluated), its training summary (if recorded), the
    dataset's Hub id (if it has one), license, widget image URLs, free-form notes (a conversion's origin) and the
    Hub id of the released checkpoint it was fine-tuned from (`base_model`, if it has one) and, for a start that was
    a local pre-training run, that run's record (`start_pretraining`). A self-supervised backbone
    (`pretraining`, its run's record) has no classification metrics or summary: its card reports the frozen-feature
    evaluation and says how to fine-tune it."""

    repo_id: str
    config: Any
    loading: str
    metrics: dict[str, float]
    summary: TrainingSummary | None
    dataset_id: str | None
    license: str = DEFAULT_LICENSE
    widget_urls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    base_model: str | None = None
    pretraining: PretrainingRecord | None = None
    start_pretraining: PretrainingRecord | None = None

    def __post_init__(self) -> None:
        if self.loading not in LOADING_MODES:
            raise ValueError(f"loading must be one of {LOADING_MODES}, got {self.loading!r}")

    @property
    def dataset_key(self) -> str:
        """The dataset's identifier in `model-index`: its Hub id, else the name it was given to the recipe by."""
        given = self.pretraining.dataset if self.pretraining else self.summary.dataset if self.summary else None
        if self.dataset_id or given is None:
            return self.dataset_id or "unknown"
        return Path(given).name

    @property
    def dataset_name(self) -> str:
        if self.pretraining is not None:
            return DATASET_NAMES.get(self.pretraining.dataset, self.dataset_id or Path(self.pretraining.dataset).name)
        if self.summary is None:
            return self.dataset_id or "unknown"
        return DATASET_NAMES.get(self.summary.dataset, self.dataset_id or Path(self.summary.dataset).name)


def hub_id(name: str) -> str | None:
    """The Hub id of a dataset or checkpoint as a run was given it: itself when it is `namespace/name` and not a
    local path."""
    if name in DATASET_NAMES or os.path.exists(name) or name.count("/") != 1:
        return None
    return name


def accuracy_result(
    inputs: CardInputs, task_name: str, split: str | None, metric: tuple[str, str], value: float
) -> EvalResult:
    """One `model-index` result of an image-classification evaluation on the card's dataset: `metric` is the
    (metric type, display name) pair of `CARD_METRICS` or `BACKBONE_METRICS`."""
    metric_type, metric_name = metric
    return EvalResult(
        task_type="image-classification",
        task_name=task_name,
        dataset_type=inputs.dataset_key,
        dataset_name=inputs.dataset_name,
        dataset_split=split,
        metric_type=metric_type,
        metric_name=metric_name,
        metric_value=round(float(value), 6),
    )


def backbone_card_data(inputs: CardInputs) -> ModelCardData:
    """A released backbone's YAML metadata: a feature extractor whose `model-index` holds its frozen-feature k-NN and
    linear-probe accuracy (`BACKBONE_METRICS`) on the pre-training run's evaluation split."""
    record = inputs.pretraining
    tags = ["image-feature-extraction", "vision", "inductive-zoo", inputs.config.model_type, "self-supervised"]
    tags.append(record.objective)
    if inputs.loading == "remote_code":
        tags.append("custom_code")
    eval_results = [
        accuracy_result(
            inputs, "Image Classification (frozen features)", record.eval_split, metric, record.pretrained[key]
        )
        for key, metric in BACKBONE_METRICS.items()
    ]
    return ModelCardData(
        library_name="transformers",
        pipeline_tag="image-feature-extraction",
        license=inputs.license,
        tags=tags,
        datasets=[inputs.dataset_id] if inputs.dataset_id else None,
        metrics=["accuracy"],
        model_name=inputs.repo_id.split("/")[-1],
        eval_results=eval_results,
    )


def card_data(inputs: CardInputs) -> ModelCardData:
    """The card's YAML metadata; `model-index` holds one result per reported metric of `inputs.metrics` (for a
    backbone, `backbone_card_data`); a classifier fine-tuned from a local pre-training run is tagged
    `self-supervised` and with the objective (`start_objective` reads it back)."""
    if inputs.pretraining is not None:
        return backbone_card_data(inputs)
    model_type = inputs.config.model_type
    tags = ["image-classification", "vision", "inductive-zoo", model_type]
    if inputs.start_pretraining is not None:
        # Fine-tuned from a self-supervised run: the Hub's tag filter finds it, and the zoo names it by the objective.
        tags += ["self-supervised", inputs.start_pretraining.objective]
    if inputs.loading == "remote_code":
        tags.append("custom_code")
    if inputs.loading == "transformers_native":
        tags.append("vit")
    eval_results = None
    metric_types = []
    if inputs.metrics:
        split = inputs.summary.eval_split if inputs.summary else None
        eval_results = []
        for key, (metric_type, metric_name) in CARD_METRICS.items():
            if key in inputs.metrics:
                if metric_type not in metric_types:
                    metric_types.append(metric_type)
                eval_results.append(
                    accuracy_result(
                        inputs, "Image Classification", split, (metric_type, metric_name), inputs.metrics[key]
                    )
                )
    widget = [{"src": url, "example_title": Path(url).stem.replace("_", " ")} for url in inputs.widget_urls]
    return ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        license=inputs.license,
        tags=tags,
        datasets=[inputs.dataset_id] if inputs.dataset_id else None,
        metrics=metric_types or None,
        model_name=inputs.repo_id.split("/")[-1],
        eval_results=eval_results,
        widget=widget or None,
        base_model=inputs.base_model,
        base_model_relation="finetune" if inputs.base_model else None,
    )


def start_objective(card_data: ModelCardData) -> str | None:
    """The self-supervised objective a released classifier was fine-tuned from, as its card's tags name it
    (`card_data`), or `None`."""
    tags = card_data.tags or []
    return next((tag for tag in tags if tag in OBJECTIVE_NAMES), None) if "self-supervised" in tags else None


def config_summary(config: Any) -> list[tuple[str, Any]]:
    """The architecture fields worth a table row: every field that differs from the config class's defaults, less
    labels and bookkeeping."""
    skipped = {"id2label", "label2id", "transformers_version", "model_type", "architectures", "auto_map", "dtype"}
    return sorted((name, value) for name, value in config.to_diff_dict().items() if name not in skipped)


def repeat_command(summary: TrainingSummary | None, dataset_id: str | None = None) -> str | None:
    """`inductive-zoo train` with the arguments the run was given (`TrainingSummary.command`), its dataset named by
    `dataset_id` (the Hub id of a local copy) where one is given, and an output directory; `None` for a run that
    recorded no command."""
    if summary is None or summary.command is None:
        return None
    output_dir = f"outputs/{summary.recipe_name or summary.model_type}"
    return shlex.join(
        ["inductive-zoo", "train", *with_dataset(summary.command, dataset_id), "--output_dir", output_dir]
    )


def pretraining_command(record: PretrainingRecord, dataset_id: str | None = None, output_dir: str | None = None) -> str:
    """`inductive-zoo pretrain` with the arguments the run was given, its dataset named by `dataset_id` where one
    is given, and `output_dir` (by default `outputs/OBJECTIVE-MODEL_TYPE`): for the start of a fine-tuned
    classifier, the path its training command reads (`--model_name_or_path`), so the two commands chain."""
    output_dir = output_dir or f"outputs/{record.objective}-{record.model_type}"
    return shlex.join(
        ["inductive-zoo", "pretrain", *with_dataset(record.command, dataset_id), "--output_dir", output_dir]
    )


def with_dataset(arguments: list[str], dataset_id: str | None) -> list[str]:
    """`arguments` with the value of `--dataset` replaced by `dataset_id` (unchanged when it is `None`)."""
    arguments = list(arguments)
    if dataset_id is not None:
        for position, item in enumerate(arguments):
            if item == "--dataset" and position + 1 < len(arguments):
                arguments[position + 1] = dataset_id
            elif item.startswith("--dataset="):
                arguments[position] = f"--dataset={dataset_id}"
    return arguments


def patch_embedding_phrase(config: Any) -> str:
    """How the config turns pixels into tokens, in words for the card's architecture sentence."""
    kind = getattr(config, "patch_embedding", None)
    if kind == "conv_stem":
        layers = int(math.log2(config.patch_size))
        convolutions = f"{layers} stride-2 3x3 convolution{'s' if layers > 1 else ''}"
        return f"a convolutional stem ({convolutions}, then a 1x1 projection)"
    return "a linear patch embedding"


def render_model_card(inputs: CardInputs, template_dir: str | os.PathLike | None = None) -> ModelCard:
    """Renders `model_cards/{model_type}.md` (or the one in `template_dir`) into a `ModelCard`.

    Raises:
        FileNotFoundError: there is no template for the variant (the message names the folder searched).
    """
    template_dir = Path(template_dir) if template_dir is not None else MODEL_CARDS_DIR
    model_type = inputs.config.model_type
    name = f"{model_type}.md"
    if not (template_dir / name).is_file():
        raise FileNotFoundError(f"no model card template {name} in {template_dir}")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    data = card_data(inputs)
    metrics = [(display, inputs.metrics[key]) for key, (_, display) in CARD_METRICS.items() if key in inputs.metrics]
    recipe_run = inputs.summary is not None and inputs.summary.recipe_name is not None
    content = environment.get_template(name).render(
        card_data=data.to_yaml(),
        repo_id=inputs.repo_id,
        config=inputs.config,
        image_size=inputs.config.image_size,
        resizable=manifest_for(type(inputs.config)).model_class.supports_set_image_size,
        patch_embedding=patch_embedding_phrase(inputs.config),
        # A recipe's overrides and a run's own are recorded one after the other; the card names each field once.
        config_overrides=overrides_text(parse_overrides(inputs.summary.config_overrides)) if inputs.summary else None,
        loading=inputs.loading,
        label_names=[inputs.config.id2label[index] for index in sorted(inputs.config.id2label)],
        config_rows=config_summary(inputs.config),
        metrics=metrics,
        tta_level=(inputs.summary.fast_training.get("tta_level") if inputs.summary else None),
        summary=inputs.summary,
        dataset_name=inputs.dataset_name,
        dataset_id=inputs.dataset_id,
        notes=inputs.notes,
        command=pretraining_command(inputs.pretraining, inputs.dataset_id)
        if inputs.pretraining
        else repeat_command(inputs.summary, inputs.dataset_id),
        backbone=inputs.pretraining,
        objective_name=OBJECTIVE_NAMES[inputs.pretraining.objective] if inputs.pretraining else None,
        start_pretraining=inputs.start_pretraining,
        start_objective_name=OBJECTIVE_NAMES[inputs.start_pretraining.objective] if inputs.start_pretraining else None,
        start_pretraining_command=pretraining_command(
            inputs.start_pretraining, inputs.dataset_id, inputs.summary.initialized_from if inputs.summary else None
        )
        if inputs.start_pretraining
        else None,
        backbone_metrics=BACKBONE_METRICS,
        initialized_from=inputs.summary.initialized_from if inputs.summary else None,
        recipe_description=RECIPES[inputs.summary.recipe_name].description
        if recipe_run and inputs.summary.recipe_name in RECIPES
        else None,
    )
    return ModelCard(content)
