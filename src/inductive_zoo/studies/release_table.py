"""The release table: one row per released checkpoint under `zoo/`, every figure read from that checkpoint's own
files (its card's `model-index` for the accuracy, its card's training sentence and command for the cost, the machine
and the recipe, its safetensors for the parameter count), so that the README's table cannot disagree with the cards.

    inductive-zoo study release-table --zoo zoo                      # prints the table
    inductive-zoo study release-table --zoo zoo --readme README.md   # and replaces it in README.md

The README holds the table between the markers `RELEASE_TABLE_START` and `RELEASE_TABLE_END` (HTML comments);
`tests/test_zoo.py` checks that the committed README equals a fresh generation.
"""

import argparse
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import ModelCard

from ..models.registry import manifest_for
from .zoo_table import count_parameters, extra_arguments

START, END = "<!-- RELEASE_TABLE_START -->", "<!-- RELEASE_TABLE_END -->"
# The card sentence `model_cards/_common.md` renders from the run's summary; group 1 the seconds, 2 what follows.
TRAINING_SENTENCE = re.compile(r"Training took (\d+) s of wall time(?: on )?(.*?)\.\n")
# A distilled checkpoint's card adds its teacher's training time (`model_cards/_common.md`).
TEACHER_SENTENCE = re.compile(r"The teacher's own training took (\d+) s more\.")
# A checkpoint fine-tuned from a local pre-training run names that run's time (`model_cards/_common.md`).
START_PRETRAINING_SENTENCE = re.compile(
    r"started from was pre-trained without labels by .*?\sin (\d+) s of wall time", re.DOTALL
)


@dataclass(frozen=True)
class Release:
    """One released checkpoint as its files describe it."""

    directory: Path
    display_name: str
    top1: float
    top1_tta: float | None
    parameters: int
    training_time_s: int
    teacher_training_time_s: int | None
    pretraining_time_s: int | None
    machine: str
    recipe: str
    extra_arguments: tuple[str, ...]


def card_command_arguments(card_text: str) -> list[str] | None:
    """The arguments of the one-line `inductive-zoo train` command that repeats a card's checkpoint (`None` when
    the card has none)."""
    command = re.search(r"```bash\n(inductive-zoo train .*?)\n```", card_text)
    return shlex.split(command.group(1))[2:] if command else None


def read_release(directory: Path) -> Release:
    """The checkpoint in `directory` as its card, config and weights describe it; `ValueError` naming the file when
    the card lacks the top-1 accuracy, the training sentence or the command."""
    card_path = directory / "README.md"
    card = ModelCard.load(card_path)
    results = {result.metric_name: result.metric_value for result in card.data.eval_results or []}
    if "Top-1 accuracy" not in results:
        raise ValueError(f"{card_path}: the model-index has no 'Top-1 accuracy'")
    training = TRAINING_SENTENCE.search(card.text)
    if training is None:
        raise ValueError(f"{card_path}: no 'Training took N s of wall time ...' sentence")
    arguments = card_command_arguments(card.text)
    if arguments is None:
        raise ValueError(f"{card_path}: no `inductive-zoo train` command")
    recipe = arguments[arguments.index("--recipe") + 1]
    model_type = json.loads((directory / "config.json").read_text())["model_type"]
    return Release(
        directory=directory,
        display_name=manifest_for(model_type).display_name,
        top1=results["Top-1 accuracy"],
        top1_tta=results.get("Top-1 accuracy with test-time augmentation"),
        parameters=count_parameters(directory / "model.safetensors"),
        training_time_s=int(training.group(1)),
        teacher_training_time_s=int(teacher.group(1)) if (teacher := TEACHER_SENTENCE.search(card.text)) else None,
        pretraining_time_s=int(start.group(1)) if (start := START_PRETRAINING_SENTENCE.search(card.text)) else None,
        # "(auto: the CPU has AVX-512 BF16 ...)" explains the choice; the table keeps the choice.
        machine=re.sub(r" \(auto: .*\)$", "", training.group(2)) or "not recorded",
        recipe=recipe,
        extra_arguments=extra_arguments(arguments),
    )


def is_backbone(directory: Path) -> bool:
    """Whether a released checkpoint is a self-supervised backbone (an `AutoModel` without a classifier) rather than
    an image classifier: its config's architecture is not a `...ForImageClassification`."""
    architectures = json.loads((directory / "config.json").read_text()).get("architectures") or [""]
    return not architectures[0].endswith("ForImageClassification")


def released_directories(zoo_dir: Path) -> list[Path]:
    """The released checkpoints under `zoo_dir`, classifiers and backbones, by name."""
    return [path for path in sorted(zoo_dir.iterdir()) if (path / "config.json").is_file()]


def read_releases(zoo_dir: Path) -> list[Release]:
    """Every released classifier under `zoo_dir`, best top-1 first."""
    releases = [read_release(path) for path in released_directories(zoo_dir) if not is_backbone(path)]
    return sorted(releases, key=lambda release: -release.top1)


@dataclass(frozen=True)
class BackboneRelease:
    """One released backbone as its card (`model_cards/_backbone.md`), config and weights describe it."""

    directory: Path
    display_name: str
    objective: str
    train_images: int
    knn: float
    linear_probe: float
    parameters: int
    training_time_s: int
    machine: str


# The sentences `model_cards/_backbone.md` renders from the pre-training record.
PRETRAINING_SENTENCE = re.compile(r"Pre-training took (\d+) s of wall time on (.*?)\.\n")
PRETRAINING_COMMAND = re.compile(r"```bash\n(inductive-zoo pretrain .*?)\n```")


def read_backbone(directory: Path) -> BackboneRelease:
    """The backbone in `directory` as its files describe it; `ValueError` naming the card when it lacks a figure."""
    card_path = directory / "README.md"
    card = ModelCard.load(card_path)
    results = {result.metric_name: result.metric_value for result in card.data.eval_results or []}
    training = PRETRAINING_SENTENCE.search(card.text)
    command = PRETRAINING_COMMAND.search(card.text)
    if training is None or command is None or len(results) < 2:
        raise ValueError(f"{card_path}: a backbone card needs its k-NN and probe accuracy, time and pretrain command")
    arguments = shlex.split(command.group(1))
    images = re.search(r"on ([\d,]+) training images", " ".join(card.text.split()))
    return BackboneRelease(
        directory=directory,
        display_name=manifest_for(json.loads((directory / "config.json").read_text())["model_type"]).display_name,
        objective=arguments[arguments.index("--objective") + 1],
        train_images=int(images.group(1).replace(",", "")) if images else 0,
        knn=results["k-NN top-1 accuracy (frozen features)"],
        linear_probe=results["Linear-probe top-1 accuracy (frozen features)"],
        parameters=count_parameters(directory / "model.safetensors"),
        training_time_s=int(training.group(1)),
        machine=re.sub(r" \(auto: .*\)$", "", training.group(2)),
    )


def read_backbones(zoo_dir: Path) -> list[BackboneRelease]:
    """Every released backbone under `zoo_dir`, best linear probe first."""
    backbones = [read_backbone(path) for path in released_directories(zoo_dir) if is_backbone(path)]
    return sorted(backbones, key=lambda backbone: -backbone.linear_probe)


def release_table(releases: list[Release]) -> str:
    """The Markdown table, one row per checkpoint."""
    lines = [
        "| checkpoint | model | top-1 | with TTA | parameters | training | machine, precision | recipe |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for release in releases:
        tta = f"{release.top1_tta:.4f}" if release.top1_tta is not None else "-"
        extra = f" `{' '.join(release.extra_arguments)}`" if release.extra_arguments else ""
        training = f"{release.training_time_s / 60:.0f} min"
        if release.teacher_training_time_s is not None:
            training += f" + {release.teacher_training_time_s / 60:.0f} min (teacher)"
        if release.pretraining_time_s is not None:
            training += f" + {release.pretraining_time_s / 60:.0f} min (pre-training)"
        lines.append(
            f"| `{release.directory.as_posix()}` | {release.display_name} | {release.top1:.4f} | {tta} | "
            f"{release.parameters / 1e6:.2f} M | {training} | {release.machine} | "
            f"`{release.recipe}`{extra} |"
        )
    return "\n".join(lines) + "\n"


def backbone_table(backbones: list[BackboneRelease]) -> str:
    """The Markdown table of the released backbones, one row each."""
    lines = [
        "| backbone | model | objective | images (no labels) | k-NN | linear probe | parameters | pre-training "
        "| machine, precision |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for backbone in backbones:
        lines.append(
            f"| `{backbone.directory.as_posix()}` | {backbone.display_name} | {backbone.objective} | "
            f"{backbone.train_images:,} | {backbone.knn:.4f} | {backbone.linear_probe:.4f} | "
            f"{backbone.parameters / 1e6:.2f} M | {backbone.training_time_s / 60:.0f} min | {backbone.machine} |"
        )
    return "\n".join(lines) + "\n"


def zoo_tables(zoo_dir: Path) -> str:
    """What the README holds between the markers: the classifiers' table, then the backbones' (if any)."""
    tables = release_table(read_releases(zoo_dir))
    backbones = read_backbones(zoo_dir)
    if backbones:
        heading = (
            "\nBackbones pre-trained without labels (frozen-feature accuracy on the evaluation split its card names; "
            "fine-tune them with `AutoModelForImageClassification.from_pretrained(..., num_labels=N)`):\n\n"
        )
        tables += heading + backbone_table(backbones)
    return tables


def replace_between_markers(text: str, table: str, source: str) -> str:
    """`text` with what lies between `START` and `END` replaced by `table`; `ValueError` if a marker is missing."""
    if START not in text or END not in text:
        raise ValueError(f"{source}: no {START} ... {END} markers to put the release table between")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{table}{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> str:
    """Command-line entry point: prints the table, and writes it into a README between the markers when asked."""
    parser = argparse.ArgumentParser(prog="inductive-zoo study release-table", description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, default=Path("zoo"), help="directory of the released checkpoints")
    parser.add_argument("--readme", type=Path, default=None, help="replace the table between the markers here")
    args = parser.parse_args(argv)
    if not args.zoo.is_dir():
        raise SystemExit(f"inductive-zoo study release-table: no directory {args.zoo}")
    table = zoo_tables(args.zoo)
    print(table)
    if args.readme is not None:
        args.readme.write_text(replace_between_markers(args.readme.read_text(), table, str(args.readme)))
    return table
