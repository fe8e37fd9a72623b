"""Publishing a trained checkpoint to the Hub: `inductive-zoo publish CHECKPOINT_DIR --repo-id ORG/NAME`.

`stage_repository` writes the complete repository into a folder: `config.json` (with `id2label`/`label2id`, and
`auto_map` with `--remote-code`), `model.safetensors`, `preprocessor_config.json`, the model card as `README.md`,
widget example images under `examples/` and, with `--remote-code`, the generated modeling code. `publish` stages into
a temporary folder and uploads it with `huggingface_hub` in one commit, which also removes files the repository no
longer needs. Unchanged files are left out of the commit by `huggingface_hub` (it compares its hashes with the ones
the Hub reports), so re-publishing an unchanged checkpoint creates no commit and uploads nothing. A pre-training run
of `inductive-zoo pretrain` is published as a backbone (`backbone.stage_backbone_repository`).
"""

import argparse
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from ..training.atomic_writes import atomic_directory
from ..training.records import (
    METRICS_FILES,
    PRETRAINING_RESULTS_FILE,
    MissingEvaluationError,
    PretrainingRecord,
    TrainingSummary,
    read_evaluation_metrics,
)
from .backbone import stage_backbone_repository
from .cards import DEFAULT_LICENSE, CardInputs, hub_id, render_model_card
from .remote_code import write_remote_code
from .widget import add_widget_outputs

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.safetensors")
CARD_FILE = "README.md"
# A widget image URL of a staged card: ENDPOINT/ORG/NAME/resolve/main/PATH.
WIDGET_URL = re.compile(r"https?://[^\s/]+(?:/[^\s/]+)*?/[^\s/]+/[^\s/]+/resolve/main/")
EXAMPLES_DIR = "examples"
DEFAULT_NUM_EXAMPLES = 4


class PublishError(RuntimeError):
    """Publishing failed for a reason the user can act on; the message says which and what to do."""


@dataclass(frozen=True)
class PublishResult:
    """A published repository: its id and URL, the commit it is at, whether this call created that commit, and the
    files it holds."""

    repo_id: str
    url: str
    commit: str
    changed: bool
    files: list[str]


def _example_images_from_dataset(
    summary: TrainingSummary, label_names: dict[int, str], count: int
) -> dict[str, object]:
    """Up to `count` evaluation images of the checkpoint's dataset, one per label, by file name; none when the
    dataset is not available offline (a Hub id)."""
    if summary.dataset != "digits" and not os.path.isdir(summary.dataset):
        print(f"note: {summary.dataset} is not a local dataset, so the card gets no widget examples")
        return {}
    from ..data import load_image_dataset  # here: `inductive_zoo.data` imports `datasets`, slow to import

    data = load_image_dataset(summary.dataset, seed=0)
    split = data.splits[summary.eval_split]
    images: dict[str, object] = {}
    for row in split.select(range(min(len(split), 20 * count))):
        name = label_names.get(row[data.label_column], str(row[data.label_column]))
        filename = re.sub(r"[^\w.-]+", "_", name) + ".png"
        if filename not in images:
            images[filename] = row[data.image_column]
        if len(images) == count:
            break
    return images


def _write_examples(
    staging_dir: Path, example_images: list[Path] | None, summary: TrainingSummary | None, label_names: dict, count: int
) -> list[str]:
    """Writes the widget images into `staging_dir/examples/` and returns their paths in the repository."""
    target = staging_dir / EXAMPLES_DIR
    paths = []
    if example_images:
        target.mkdir()
        for image in example_images[:count]:
            shutil.copyfile(image, target / image.name)
            paths.append(f"{EXAMPLES_DIR}/{image.name}")
    elif summary is not None and count > 0:
        images = _example_images_from_dataset(summary, label_names, count)
        if images:
            target.mkdir()
        for filename, image in images.items():
            image.convert("RGB").save(target / filename, format="PNG")
            paths.append(f"{EXAMPLES_DIR}/{filename}")
    return paths


def stage_repository(
    checkpoint_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    repo_id: str,
    *,
    endpoint: str,
    remote_code: bool = False,
    as_transformers_native: bool = False,
    allow_unevaluated: bool = False,
    dataset_id: str | None = None,
    license: str = DEFAULT_LICENSE,
    example_images: list[Path] | None = None,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    base_model_id: str | None = None,
) -> list[str]:
    """Writes the Hub repository of a checkpoint into the empty folder `staging_dir`; returns its files. A
    pre-training run (`inductive-zoo pretrain`'s output) is staged as a backbone (`backbone.stage_backbone_repository`).

    `endpoint` is the Hub the widget image URLs point at. `dataset_id` is the Hub id of the training data for the
    card's metadata (default: the recorded dataset when it is a Hub id). `base_model_id` is the Hub id of the
    released checkpoint a fine-tuned run started from, for the card's `base_model` (default: the recorded start when
    it is a Hub id; a local start without it is named in the card's text only).

    Raises:
        PublishError: the checkpoint lacks a file, or asks for remote code and the ViT export at once.
        MissingEvaluationError: no evaluation results and not `allow_unevaluated`.
        NotTransformersNativeError: `as_transformers_native` for a model that is not exactly a ViT.
    """
    from transformers import AutoConfig, AutoModelForImageClassification

    from ..data import image_processor_for
    from .native import export_as_vit

    checkpoint_dir, staging_dir = Path(checkpoint_dir), Path(staging_dir)
    if (checkpoint_dir / PRETRAINING_RESULTS_FILE).is_file():
        if as_transformers_native or example_images or base_model_id:
            raise PublishError(
                f"{checkpoint_dir} is a pre-training run, published as a backbone: --as-transformers-native, "
                "--example-images and --base-model-id apply to classifiers only"
            )
        return stage_backbone_repository(
            checkpoint_dir, staging_dir, repo_id, remote_code=remote_code, dataset_id=dataset_id, license=license
        )
    missing = [name for name in REQUIRED_FILES if not (checkpoint_dir / name).is_file()]
    if missing:
        raise PublishError(f"{checkpoint_dir} is not a saved checkpoint: it lacks {', '.join(missing)}")
    if remote_code and as_transformers_native:
        raise PublishError("--remote-code and --as-transformers-native exclude each other: a ViT needs no remote code")
    try:
        metrics = read_evaluation_metrics(checkpoint_dir)
    except MissingEvaluationError:
        if not allow_unevaluated:
            raise
        metrics = {}
    summary = TrainingSummary.load(checkpoint_dir)
    config = AutoConfig.from_pretrained(checkpoint_dir)

    if as_transformers_native:
        model = AutoModelForImageClassification.from_pretrained(checkpoint_dir)
        vit, difference = export_as_vit(model)
        vit.save_pretrained(staging_dir)
        print(f"exported as ViTForImageClassification: max abs logit difference {difference:.3e}")
        loading = "transformers_native"
    else:
        shutil.copyfile(checkpoint_dir / "model.safetensors", staging_dir / "model.safetensors")
        saved_config = json.loads((checkpoint_dir / "config.json").read_text())
        if saved_config.get("problem_type") is None and len(config.id2label) > 1:
            # transformers records multi-label (or regression) at the first loss on float labels, so a classifier
            # saved without a problem type trained single-label; say so, for the widget and the pipeline.
            saved_config["problem_type"] = "single_label_classification"
        if remote_code:
            saved_config["auto_map"] = write_remote_code(config, staging_dir)
        (staging_dir / "config.json").write_text(json.dumps(saved_config, indent=2, sort_keys=True) + "\n")
        loading = "remote_code" if remote_code else "package"

    processor_file = checkpoint_dir / "preprocessor_config.json"
    if processor_file.is_file():
        shutil.copyfile(processor_file, staging_dir / processor_file.name)
    else:
        image_processor_for(config.image_size, config.num_channels).save_pretrained(staging_dir)

    dataset_id = dataset_id or (hub_id(summary.dataset) if summary else None)
    if summary is not None and dataset_id is None and os.path.isdir(summary.dataset):
        logger.warning(
            f"{checkpoint_dir} was trained on the local directory {summary.dataset}, which the card will name; pass "
            "--dataset-id with the Hub id of the same data so that its users can repeat the run"
        )
    start = summary.initialized_from if summary else None
    base_model = base_model_id or (hub_id(start) if start else None)
    if start is not None and base_model is None:
        logger.warning(
            f"{checkpoint_dir} was fine-tuned from the local checkpoint {start}; pass --base-model-id with the Hub id "
            "of its release so that the card's base_model links to it"
        )
    start_pretraining = PretrainingRecord.load(start) if start and os.path.isdir(start) else None
    label_names = {int(index): name for index, name in config.id2label.items()}
    examples = _write_examples(staging_dir, example_images, summary, label_names, num_examples)
    inputs = CardInputs(
        repo_id=repo_id,
        config=config,
        loading=loading,
        metrics=metrics,
        summary=summary,
        dataset_id=dataset_id,
        license=license,
        widget_urls=[f"{endpoint}/{repo_id}/resolve/main/{path}" for path in examples],
        notes=_conversion_notes(checkpoint_dir),
        base_model=base_model,
        start_pretraining=start_pretraining,
    )
    render_model_card(inputs).save(staging_dir / "README.md")
    if loading != "transformers_native":
        # No inference provider runs a custom architecture: the widget shows the checkpoint's own outputs.
        add_widget_outputs(staging_dir)
    return sorted(path.relative_to(staging_dir).as_posix() for path in staging_dir.rglob("*") if path.is_file())


def is_staged_repository(directory: str | os.PathLike) -> bool:
    """Whether `directory` is a complete repository written by `stage_repository` (such as the zoo's `zoo/NAME`),
    rather than a training run's output: it has the weights, the config and a model card, and no evaluation
    results of a run."""
    directory = Path(directory)
    has_files = all((directory / name).is_file() for name in (*REQUIRED_FILES, CARD_FILE))
    return has_files and not any((directory / name).is_file() for name in METRICS_FILES)


def copy_staged_repository(
    source: str | os.PathLike, staging_dir: str | os.PathLike, repo_id: str, endpoint: str
) -> list[str]:
    """Copies a staged repository into `staging_dir` as it is, except that the card's widget image URLs are pointed
    at `repo_id` on `endpoint` (they name the repository the folder was staged for); returns its files."""
    source, staging_dir = Path(source), Path(staging_dir)
    shutil.copytree(source, staging_dir, dirs_exist_ok=True)
    card = staging_dir / CARD_FILE
    card.write_text(WIDGET_URL.sub(f"{endpoint.rstrip('/')}/{repo_id}/resolve/main/", card.read_text()))
    return sorted(path.relative_to(staging_dir).as_posix() for path in staging_dir.rglob("*") if path.is_file())


def _conversion_notes(checkpoint_dir: Path) -> list[str]:
    """The notes `inductive-zoo convert` leaves about a converted checkpoint's origin (none for trained ones)."""
    from .convert import CONVERSION_RECORD

    record = checkpoint_dir / CONVERSION_RECORD
    return json.loads(record.read_text())["notes"] if record.is_file() else []


def _explain(error: HfHubHTTPError, repo_id: str, endpoint: str) -> str:
    status = error.response.status_code if error.response is not None else None
    detail = error.server_message or str(error).splitlines()[0]
    if status == 401:
        return (
            f"the Hub at {endpoint} rejected the token (401: {detail}); pass a valid write token with --token or "
            "HF_TOKEN, or log in with `hf auth login`"
        )
    if status == 403:
        return (
            f"the token may not write to {repo_id.split('/')[0]} at {endpoint} (403: {detail}); check --repo-id and "
            "the token's permissions"
        )
    if isinstance(error, RepositoryNotFoundError):
        return f"the repository {repo_id} does not exist at {endpoint} and could not be created ({detail})"
    return f"publishing {repo_id} to {endpoint} failed: {error}"


def publish(
    checkpoint_dir: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    **staging_options: object,
) -> PublishResult:
    """Stages the checkpoint's repository (see `stage_repository` for `staging_options`) and uploads it to `repo_id`,
    creating the repository if needed. `endpoint` defaults to `HF_ENDPOINT` (the Hub), `token` to the saved login.

    Raises:
        PublishError: the checkpoint is incomplete, or the Hub refused (wrong token, no rights, no repository).
        MissingEvaluationError: no evaluation results and not `allow_unevaluated`.
    """
    if repo_id.count("/") != 1:
        raise PublishError(f"--repo-id must be ORGANISATION/NAME, got {repo_id!r}")
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="inductive-zoo-publish-") as staging:
        if is_staged_repository(checkpoint_dir):
            files = copy_staged_repository(checkpoint_dir, staging, repo_id, endpoint=api.endpoint)
        else:
            files = stage_repository(checkpoint_dir, staging, repo_id, endpoint=api.endpoint, **staging_options)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            before = api.repo_info(repo_id).sha
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                commit_message=commit_message or f"Publish {Path(checkpoint_dir).name} with inductive-zoo",
                delete_patterns=["*"],
            )
        except HfHubHTTPError as error:
            raise PublishError(_explain(error, repo_id, api.endpoint)) from error
    return PublishResult(repo_id=repo_id, url=str(url), commit=commit.oid, changed=commit.oid != before, files=files)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inductive-zoo publish", description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint_dir",
        type=Path,
        help="a checkpoint saved by the recipe (or by inductive-zoo convert), a pre-training run of inductive-zoo "
        "pretrain (published as a backbone), or a staged repository such as zoo/NAME, which is uploaded as it is",
    )
    parser.add_argument("--repo-id", "--repo_id", required=True, help="ORGANISATION/NAME on the Hub")
    parser.add_argument("--token", default=None, help="write token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument(
        "--remote-code", "--remote_code", action="store_true", help="include the modeling code, for trust_remote_code"
    )
    parser.add_argument(
        "--as-transformers-native",
        "--as_transformers_native",
        action="store_true",
        help="export an IsoTransformer with ViT settings as ViTForImageClassification (checked by equal logits)",
    )
    parser.add_argument(
        "--allow-unevaluated", "--allow_unevaluated", action="store_true", help="publish without evaluation results"
    )
    parser.add_argument("--dataset-id", "--dataset_id", default=None, help="Hub id of the training data, for the card")
    parser.add_argument(
        "--base-model-id",
        "--base_model_id",
        default=None,
        help="Hub id of the released checkpoint a fine-tuned run started from, for the card's base_model",
    )
    parser.add_argument(
        "--license", default=DEFAULT_LICENSE, help=f"license of the weights (default {DEFAULT_LICENSE})"
    )
    parser.add_argument(
        "--example-images", "--example_images", type=Path, nargs="+", default=None, help="widget images to upload"
    )
    parser.add_argument(
        "--staging-dir",
        "--staging_dir",
        type=Path,
        default=None,
        help="only write the repository into this (empty) folder, upload nothing",
    )
    parser.add_argument(
        "--space-dir",
        "--space_dir",
        type=Path,
        default=None,
        help="also write a Hugging Face Space (Gradio demo page) for the repository into this folder "
        "(`publishing.demo_page.stage_space`; push it as a Space of its own)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> PublishResult | list[str]:
    """Command-line entry point; prints what was published (or staged) and exits with a message on errors."""
    args = parse_args(argv)
    options = dict(
        remote_code=args.remote_code,
        as_transformers_native=args.as_transformers_native,
        allow_unevaluated=args.allow_unevaluated,
        dataset_id=args.dataset_id,
        base_model_id=args.base_model_id,
        license=args.license,
        example_images=args.example_images,
    )
    if args.space_dir is not None:
        from .demo_page import stage_space  # imports no Gradio: only the page itself does

        space_files = stage_space(args.checkpoint_dir, args.space_dir, args.repo_id)
        print(f"staged a Space for {args.repo_id} in {args.space_dir}: {', '.join(space_files)}")
    try:
        if args.staging_dir is not None:
            endpoint = HfApi(token=args.token).endpoint
            # Staged beside the folder and renamed into place: a folder staged before is replaced whole, never
            # half-overwritten (its old files gone, or all kept if staging fails).
            with atomic_directory(args.staging_dir) as staging:
                files = stage_repository(args.checkpoint_dir, staging, args.repo_id, endpoint=endpoint, **options)
            print(f"staged {len(files)} files in {args.staging_dir}: {', '.join(files)}")
            return files
        result = publish(args.checkpoint_dir, args.repo_id, token=args.token, private=args.private, **options)
    except (PublishError, ValueError) as error:
        raise SystemExit(f"inductive-zoo publish: {error}") from error
    state = "published a new commit" if result.changed else "unchanged, nothing uploaded"
    print(f"{result.repo_id}: {state} ({result.commit}) at {result.url}; files: {', '.join(result.files)}")
    return result
