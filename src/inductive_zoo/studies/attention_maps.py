"""Attention maps of the attention-based variants on real images (IBiT's explainability claim, Giri 2025): attention
rollout (Abnar & Zuidema 2020) and the per-head maps of one layer, as an image grid per model.

    inductive-zoo study attention-maps --dataset ../shared/datasets/cifar10 --output_dir outputs/study-attention \
        --model IBiT=outputs/ibit --model ViT=outputs/iso --num_images 6 --layer -1

Rows are images; columns are the image, its rollout heat map over the image, then one map per head of `--layer`:
the class token's attention to every patch, or, before the class token joins (ConViT's and PRS-ViT's GPSA blocks)
and for models without one, the mean attention each patch receives. Maps are magnitudes (IBiT's are signed), each
scaled to [0, 1]. A PRS-ViT's convolution-mode layers are first reparameterized into attention, which computes the
same function, so that every layer has a map. Writes `attention_<label>.png` per model, `command.txt` and
`environment.json`.
"""

import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from ..analysis import rollout_heatmap
from .inputs import analysis_parser, image_batch, load_model, parse_labelled
from .plotting import figure_grid, save_figure
from .study_outputs import record_run


def head_maps(attention: torch.Tensor, grid_size: int) -> torch.Tensor:
    """`(B, heads, grid, grid)` maps in [0, 1] from one layer's `(B, heads, T, T)` attention over `T = prefix +
    grid * grid` tokens: the first (class) token's row over the patches if there is a prefix, else the mean over
    all query rows; magnitudes, each map min-max scaled."""
    patches = grid_size * grid_size
    prefix = attention.shape[-1] - patches
    magnitude = attention.detach().abs().float()
    flow = magnitude[:, :, 0, prefix:] if prefix else magnitude.mean(dim=2)
    low = flow.amin(dim=-1, keepdim=True)
    high = flow.amax(dim=-1, keepdim=True)
    scaled = (flow - low) / (high - low).clamp_min(1e-12)
    return scaled.reshape(*attention.shape[:2], grid_size, grid_size)


def attention_outputs(model: PreTrainedModel, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The per-layer attention maps of `model` on `pixel_values`; a PRS-ViT is first switched to attention mode."""
    if hasattr(model, "layer_modes"):
        model.reparameterize(range(model.config.num_reparameterizable_layers))
    with torch.inference_mode():
        attentions = model(pixel_values=pixel_values, output_attentions=True).attentions
    if not attentions:
        raise ValueError(f"{type(model).__name__} returns no attention maps; choose an attention-based variant")
    return attentions


def attention_grid(
    images: torch.Tensor, attentions: tuple[torch.Tensor, ...], grid_size: int, layer: int, cell_inches: float = 1.2
):
    """The figure: a row per image with the image, its rollout overlay and the head maps of `attentions[layer]`."""
    num_prefix_tokens = attentions[-1].shape[-1] - grid_size * grid_size
    rollout = rollout_heatmap(attentions, (grid_size, grid_size), num_prefix_tokens)
    heads = head_maps(attentions[layer], grid_size)
    size = images.shape[-2:]
    rollout = F.interpolate(rollout[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    columns = 2 + heads.shape[1]
    figure, axes = figure_grid(images.shape[0], columns, panel_inches=(cell_inches, cell_inches))
    layer_index = layer % len(attentions)
    for row, image in enumerate(images):
        picture = image.permute(1, 2, 0).numpy()
        axes[row][0].imshow(picture)
        axes[row][1].imshow(picture)
        axes[row][1].imshow(rollout[row].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        for head in range(heads.shape[1]):
            axes[row][2 + head].imshow(heads[row, head].numpy(), cmap="viridis", vmin=0, vmax=1)
    titles = ["image", "rollout", *(f"L{layer_index} h{head}" for head in range(heads.shape[1]))]
    for column, title in enumerate(titles):
        axes[0][column].set_title(title, fontsize="small")
    for axis in (axis for row in axes for axis in row):
        axis.set_axis_off()
    return figure


def main(argv: list[str] | None = None) -> list[Path]:
    """Command-line entry point: `inductive-zoo study attention-maps --model LABEL=SOURCE ... --output_dir DIR`."""
    argv = sys.argv[1:] if argv is None else argv
    parser = analysis_parser(__doc__, num_images=6, output_dir="outputs/study-attention")
    parser.add_argument("--layer", type=int, default=-1, help="the layer whose per-head maps are shown")
    parser.add_argument("--cell_inches", type=float, default=1.2, help="size of one panel (100 pixels per inch)")
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    record_run(output_dir, "attention-maps", argv)
    written = []
    for label, source in map(parse_labelled, args.model):
        torch.manual_seed(args.seed)
        model = load_model(source)
        images, pixel_values = image_batch(args.dataset, args.num_images, model.config.image_size)
        attentions = attention_outputs(model, pixel_values)
        grid_size = model.config.image_size // model.config.patch_size
        figure = attention_grid(images, attentions, grid_size, args.layer, args.cell_inches)
        path = output_dir / f"attention_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.png"
        save_figure(figure, path)
        written.append(path)
        print(f"{label}: {path}")
    return written
