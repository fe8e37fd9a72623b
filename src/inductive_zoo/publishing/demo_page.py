"""A demo page for a checkpoint, the widget the Hub cannot host for a custom architecture: a Gradio app that
classifies an uploaded image (or one of the checkpoint's example images) with the same `pipeline("image-
classification")` its card documents, and shows the top-5 labels with their scores, a summary of the card (variant,
data, accuracy) and, for the attention variants, where the model looked (attention rollout, Abnar & Zuidema 2020,
`analysis.attention_rollout`).

`inductive-zoo demo-page CHECKPOINT` serves it on localhost for any checkpoint folder or Hub id; `stage_space` writes
a Hugging Face Space that serves it for a released checkpoint (this file as its `app.py`). Gradio is an optional
dependency: `pip install "inductive-zoo[demo]"`; the rest of the package never imports it.
"""

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from ..analysis.attention_rollout import rollout_heatmap

TOP_K = 5
DISPLAY_SIZE = 224
NO_IMAGE = "No image: upload one, or click one of the examples below."


class DemoModel:
    """A checkpoint behind the page: its pipeline, its card's summary and its example images."""

    def __init__(self, checkpoint: str, trust_remote_code: bool = False) -> None:
        from transformers import pipeline

        self.checkpoint = checkpoint
        self.classifier = pipeline(
            "image-classification", model=checkpoint, device="cpu", trust_remote_code=trust_remote_code
        )
        self.model = self.classifier.model.eval()
        self.processor = self.classifier.image_processor

    def top_k(self, image: Image.Image) -> dict[str, float]:
        """The pipeline's top-5 `{label: score}`."""
        return {entry["label"]: entry["score"] for entry in self.classifier(image, top_k=TOP_K)}

    def attention_map(self, image: Image.Image) -> Image.Image | None:
        """The image with the rolled-out attention of the class token (or of all tokens) over it, in red; `None`
        for a model without attention maps (the convolutional variants)."""
        inputs = self.processor(image, return_tensors="pt")
        try:
            with torch.no_grad():
                outputs = self.model(**inputs, output_attentions=True)
        except TypeError:  # a model whose forward takes no output_attentions
            return None
        attentions = getattr(outputs, "attentions", None)
        patch_size = getattr(self.model.config, "patch_size", None)
        if not attentions or patch_size is None:
            return None
        grid = self.model.config.image_size // patch_size
        length = max(attention.shape[-1] for attention in attentions)
        heatmap = rollout_heatmap(attentions, (grid, grid), num_prefix_tokens=length - grid * grid)[0]
        shown = image.convert("RGB").resize((DISPLAY_SIZE, DISPLAY_SIZE), Image.BILINEAR)
        heat = Image.fromarray((heatmap.numpy() * 255).astype("uint8")).resize(shown.size, Image.BILINEAR)
        red = Image.merge("RGB", (heat, Image.new("L", shown.size), Image.new("L", shown.size)))
        return Image.blend(shown, red, 0.5)

    def summary(self) -> str:
        """The card's summary in Markdown: variant, data, measured top-1, labels."""
        config = self.model.config
        labels = ", ".join(config.id2label[index] for index in sorted(config.id2label))
        size = f"{config.image_size}x{config.image_size}"
        lines = [f"**{type(self.model).__name__}** (`{config.model_type}`), {size} images, labels: {labels}."]
        card = card_metadata(self.checkpoint)
        for result in card.get("model-index", [{}])[0].get("results", []):
            dataset = result.get("dataset", {})
            measured = [
                f"{metric.get('name', metric.get('type'))} {metric['value']:.4f}"
                for metric in result.get("metrics", [])
            ]
            if measured:
                lines.append(
                    f"Measured on the {dataset.get('split', '?')} split of {dataset.get('name', '?')} (the card's "
                    f"`model-index`): {'; '.join(measured)}."
                )
        return "\n\n".join(lines)

    def examples(self) -> list[str]:
        folder = Path(self.checkpoint) / "examples"
        return sorted(str(path) for path in folder.glob("*.png")) if folder.is_dir() else []


def card_metadata(checkpoint: str) -> dict[str, Any]:
    """The YAML metadata of a checkpoint's card (`README.md`), or `{}` without one."""
    from huggingface_hub import ModelCard

    try:
        path = Path(checkpoint) / "README.md"
        card = ModelCard.load(path if path.is_file() else checkpoint)
    except Exception:  # no card, or not reachable: the page works without its summary
        return {}
    return card.data.to_dict()


def read_image(path: str | None) -> Image.Image:
    """The uploaded file as an image, or a `gradio.Error` that says what is wrong with it."""
    import gradio as gr

    if not path:
        raise gr.Error(NO_IMAGE)
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise gr.Error(
            f"{Path(path).name} is not an image this page can read ({type(error).__name__}); upload a PNG or JPEG."
        ) from error


def build_demo(model: DemoModel) -> Any:
    """The page: an image input with the checkpoint's examples, the top-5 labels (`#top5`) and the attention map."""
    import gradio as gr

    def classify(path: str | None) -> tuple[Image.Image, dict[str, float], Image.Image | None]:
        image = read_image(path)
        shown = image.resize((DISPLAY_SIZE, DISPLAY_SIZE * image.height // image.width), Image.BILINEAR)
        return shown, model.top_k(image), model.attention_map(image)

    with gr.Blocks(title=f"{Path(model.checkpoint).name} demo") as demo:
        gr.Markdown(f"# {Path(model.checkpoint).name}\n\n{model.summary()}")
        with gr.Row():
            with gr.Column():
                # A file input rather than gr.Image, which would decode the upload itself and answer a broken file
                # with its own error: here `read_image` says what is wrong.
                upload = gr.File(label="Image (PNG, JPEG, ...)", type="filepath", file_types=["image"], elem_id="image")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                if model.examples():
                    gr.Examples(model.examples(), inputs=upload)
            with gr.Column():
                shown = gr.Image(label="Your image", elem_id="shown", interactive=False)
                labels = gr.Label(num_top_classes=TOP_K, label="Top-5", elem_id="top5")
                attention = gr.Image(label="Attention rollout (attention variants)", elem_id="attention")
        button.click(classify, inputs=upload, outputs=[shown, labels, attention])
    return demo


def stage_space(checkpoint: str | os.PathLike, space_dir: str | os.PathLike, model_repo_id: str) -> list[str]:
    """Writes a Hugging Face Space for `model_repo_id` into the empty folder `space_dir`: `app.py` (this module,
    loading the model with its remote code), `attention_rollout.py` (which it uses), `requirements.txt` and a
    `README.md` with the Space's front matter naming the model; returns the files written."""
    space_dir = Path(space_dir)
    space_dir.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).read_text()
    relative_import = "from ..analysis.attention_rollout import rollout_heatmap"
    if relative_import not in source:
        raise ValueError("demo_page.py no longer imports rollout_heatmap as stage_space expects")
    app = source.replace(relative_import, "from attention_rollout import rollout_heatmap")
    app = app.replace("\nDEFAULT_MODEL = None\n", f'\nDEFAULT_MODEL = "{model_repo_id}"\n')
    (space_dir / "app.py").write_text(app)
    shutil.copyfile(Path(rollout_heatmap.__code__.co_filename), space_dir / "attention_rollout.py")
    (space_dir / "requirements.txt").write_text("transformers>=5,<6\ntorch\ngradio>=5\nhuggingface_hub>=1.0\n")
    name = model_repo_id.split("/")[-1]
    front_matter = {"title": f"{name} demo", "sdk": "gradio", "app_file": "app.py", "models": [model_repo_id]}
    (space_dir / "README.md").write_text(
        "---\n" + "\n".join(f"{key}: {json.dumps(value)}" for key, value in front_matter.items()) + "\n---\n\n"
        f"The demo page of [{model_repo_id}](https://huggingface.co/{model_repo_id}), generated by "
        "`inductive_zoo.publishing.demo_page.stage_space`.\n"
    )
    return sorted(path.name for path in space_dir.iterdir())


# The model a staged Space serves (`stage_space` writes it in); `None` in the package.
DEFAULT_MODEL = None


def main(argv: list[str] | None = None) -> Any:
    """`inductive-zoo demo-page CHECKPOINT [--port N]`: serves the page on localhost (or, in a Space, the staged
    model)."""
    parser = argparse.ArgumentParser(prog="inductive-zoo demo-page", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?" if DEFAULT_MODEL else None, default=DEFAULT_MODEL)
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="0.0.0.0" if DEFAULT_MODEL else "127.0.0.1")
    parser.add_argument("--trust-remote-code", action="store_true", default=DEFAULT_MODEL is not None)
    args = parser.parse_args(argv)
    demo = build_demo(DemoModel(args.checkpoint, trust_remote_code=args.trust_remote_code))
    return demo.launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
