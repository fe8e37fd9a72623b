"""Static outputs for a card's widget examples: the Hub's hosted inference runs only transformers' own
architectures, so the card of a custom-code model shows, for each example image, the top-5 labels and scores that
the checkpoint itself gives through `pipeline("image-classification")` (the Hub's `output:` field of a widget
example), computed when the card is written."""

import os
from pathlib import Path

from huggingface_hub import ModelCard

TOP_K = 5


def example_outputs(repository_dir: str | os.PathLike, image_paths: list[str]) -> list[list[dict[str, float | str]]]:
    """The top-5 `{"label", "score"}` of `pipeline("image-classification")` for each image (paths inside the
    repository), scores rounded to 4 decimals."""
    from PIL import Image
    from transformers import pipeline

    repository_dir = Path(repository_dir)
    classifier = pipeline("image-classification", model=str(repository_dir), device="cpu")
    images = [Image.open(repository_dir / path) for path in image_paths]
    results = classifier(images, top_k=TOP_K) if images else []
    return [[{"label": entry["label"], "score": round(entry["score"], 4)} for entry in result] for result in results]


def add_widget_outputs(repository_dir: str | os.PathLike) -> int:
    """Writes into the card (`README.md`) of a staged repository the static output of each widget example whose
    image is in the repository (`examples/NAME`); returns how many examples got one."""
    repository_dir = Path(repository_dir)
    card = ModelCard.load(repository_dir / "README.md")
    widget = getattr(card.data, "widget", None) or []
    if not widget:
        return 0
    paths = [f"examples/{entry['src'].rsplit('/', 1)[-1]}" for entry in widget]
    present = [(entry, path) for entry, path in zip(widget, paths, strict=True) if (repository_dir / path).is_file()]
    outputs = example_outputs(repository_dir, [path for _, path in present])
    for (entry, _), output in zip(present, outputs, strict=True):
        entry["output"] = output
    card.data.widget = widget
    card.save(repository_dir / "README.md")
    return len(present)
