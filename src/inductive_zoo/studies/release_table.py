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
        # "(auto: the CPU has AVX-512 BF16 ...)" explains the choice; the table keeps the choice.
        machine=re.sub(r" \(auto: .*\)$", "", training.group(2)) or "not recorded",
        recipe=recipe,
        extra_arguments=extra_arguments(arguments),
    )


def read_releases(zoo_dir: Path) -> list[Release]:
    """Every released checkpoint under `zoo_dir`, best top-1 first."""
    releases = [read_release(path) for path in sorted(zoo_dir.iterdir()) if (path / "config.json").is_file()]
    return sorted(releases, key=lambda release: -release.top1)


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
        lines.append(
            f"| `{release.directory.as_posix()}` | {release.display_name} | {release.top1:.4f} | {tta} | "
            f"{release.parameters / 1e6:.2f} M | {training} | {release.machine} | "
            f"`{release.recipe}`{extra} |"
        )
    return "\n".join(lines) + "\n"


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
    table = release_table(read_releases(args.zoo))
    print(table)
    if args.readme is not None:
        args.readme.write_text(replace_between_markers(args.readme.read_text(), table, str(args.readme)))
    return table
