"""Fourier analysis of feature maps (Park & Kim 2022, "How do vision transformers work?", as used by PRS, Lee et al.
2022): how much high-frequency signal each block's output keeps, relative to its mean (frequency 0).

    inductive-zoo study fourier --dataset ../shared/datasets/cifar10 --output_dir outputs/study-fourier \
        --model ViT=outputs/iso --model ConvNet=outputs/convnet --model "PRS E=5=outputs/prs-e5"

Per block output (the embeddings first, then every block; CADA-ResNet: the stem, then every stage), class tokens
dropped and tokens reshaped to the `(B, C, H, W)` grid: `log |fft2|`, zero frequency shifted to the centre, the mean
over images and channels, the half diagonal from frequency 0 to pi, minus its value at 0 (the relative log
amplitude). The high-frequency value is the last point (pi). Writes `fourier.csv` (every point of every curve),
`fourier.md` (the high-frequency value per block), `fourier_curves.png` (one panel per model, a curve per block,
coloured by depth), `fourier_depth.png` (the high-frequency value against normalised depth, all models), and
`command.txt` / `environment.json`.
"""

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel

from .inputs import analysis_parser, image_batch, load_model, parse_labelled
from .plotting import depth_colours, figure_grid, save_figure
from .study_outputs import markdown_table, record_run, write_csv

logger = logging.getLogger(__name__)

# Added to |fft2| before the log so that an exactly zero amplitude (e.g. of a constant map) stays finite.
AMPLITUDE_EPSILON = 1e-6


def relative_log_amplitude(feature_maps: torch.Tensor) -> torch.Tensor:
    """The relative log amplitude of `(B, C, H, W)` feature maps along the half diagonal of the centred spectrum:
    `H // 2 + 1` values from frequency 0 (always 0) to the highest frequency, pi on each axis for an even `H`.

    `log(|fft2(x)| + 1e-6)` per image and channel, `fftshift` over the spatial axes, the mean over images and
    channels, the diagonal from the centre `(H // 2, H // 2)` to the corner `(0, 0)`, minus the value at the centre.
    """
    if feature_maps.ndim != 4:
        raise ValueError(f"expected (batch, channels, height, width) maps, got shape {tuple(feature_maps.shape)}")
    height, width = feature_maps.shape[-2:]
    if height != width:
        raise ValueError(f"the diagonal profile needs a square grid, got {height}x{width}")
    spectrum = torch.fft.fft2(feature_maps.detach().double())
    log_amplitude = torch.log(spectrum.abs() + AMPLITUDE_EPSILON)
    mean = torch.fft.fftshift(log_amplitude, dim=(-2, -1)).mean(dim=(0, 1))
    centre = height // 2
    profile = torch.stack([mean[centre - step, centre - step] for step in range(centre + 1)])
    return (profile - profile[0]).float()


def normalised_frequencies(grid_size: int) -> torch.Tensor:
    """The frequencies of `relative_log_amplitude`'s points in units of pi: `0, 2/n, ..., 2 (n // 2) / n`."""
    return torch.arange(grid_size // 2 + 1, dtype=torch.float32) * 2 / grid_size


def feature_maps(model: PreTrainedModel, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """Every hidden state of `model` on `pixel_values` as a `(B, C, H, W)` map: for the token models of the zoo the
    embeddings and each block's output with class tokens dropped (the last `grid * grid` tokens are the patches, since
    class tokens are prepended), for CADA-ResNet the stem's and each stage's output as they are."""
    with torch.inference_mode():
        hidden_states = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
    maps = []
    for hidden in hidden_states:
        if hidden.ndim == 4:
            maps.append(hidden)
            continue
        grid = pixel_values.shape[-1] // model.config.patch_size
        patches = hidden[:, -grid * grid :]
        maps.append(patches.transpose(1, 2).reshape(hidden.shape[0], -1, grid, grid))
    return maps


@dataclass(frozen=True)
class FourierCurves:
    """One model's relative log amplitude curves: `curves[i]` for hidden state `i` (0: embeddings or stem), at
    `frequencies[i]` (units of pi; CNN stages have their own grid sizes)."""

    label: str
    curves: list[torch.Tensor]
    frequencies: list[torch.Tensor]

    @property
    def high_frequency(self) -> list[float]:
        """The relative log amplitude at the highest frequency, per hidden state."""
        return [curve[-1].item() for curve in self.curves]

    @property
    def depths(self) -> list[float]:
        """Normalised depth of each hidden state: 0 for the embeddings, 1 for the last block."""
        last = max(len(self.curves) - 1, 1)
        return [index / last for index in range(len(self.curves))]


def analyse(label: str, model: PreTrainedModel, pixel_values: torch.Tensor) -> FourierCurves:
    maps = feature_maps(model, pixel_values)
    curves = [relative_log_amplitude(feature_map) for feature_map in maps]
    return FourierCurves(label, curves, [normalised_frequencies(feature_map.shape[-1]) for feature_map in maps])


def write_outputs(results: Sequence[FourierCurves], output_dir: Path) -> None:
    rows = [
        {
            "model": result.label,
            "layer": layer,
            "depth": f"{depth:.4f}",
            "frequency_over_pi": f"{frequency:.4f}",
            "relative_log_amplitude": f"{value:.5f}",
        }
        for result in results
        for layer, (curve, frequencies, depth) in enumerate(
            zip(result.curves, result.frequencies, result.depths, strict=True)
        )
        for frequency, value in zip(frequencies.tolist(), curve.tolist(), strict=True)
    ]
    write_csv(output_dir / "fourier.csv", rows, list(rows[0]))
    depth = max(len(result.curves) for result in results)
    header = ["model", *(["embedding"] + [f"block {index}" for index in range(1, depth)]), "mean over blocks"]
    table = [
        [
            result.label,
            *(f"{value:.3f}" for value in result.high_frequency),
            *([""] * (depth - len(result.curves))),
            f"{sum(result.high_frequency[1:]) / max(len(result.curves) - 1, 1):.3f}",
        ]
        for result in results
    ]
    (output_dir / "fourier.md").write_text(
        "Relative log amplitude at the highest frequency (pi) of each hidden state\n"
        "(embedding/stem, then each block/stage):\n\n" + markdown_table(header, table)
    )

    figure, axes = figure_grid(1, len(results), panel_inches=(3.6, 3.0))
    for axis, result in zip(axes[0], results, strict=True):
        colours = depth_colours(len(result.curves))
        for layer, (curve, frequencies) in enumerate(zip(result.curves, result.frequencies, strict=True)):
            axis.plot(frequencies, curve, color=colours[layer], label="embedding" if layer == 0 else f"block {layer}")
        axis.set_title(result.label)
        axis.set_xlabel("frequency (x pi)")
        axis.set_ylabel("relative log amplitude")
        axis.legend(fontsize="x-small")
    save_figure(figure, output_dir / "fourier_curves.png")

    figure, axes = figure_grid(1, 1, panel_inches=(5.0, 3.6))
    for result in results:
        axes[0][0].plot(result.depths, result.high_frequency, marker="o", label=result.label)
    axes[0][0].set_xlabel("normalised depth")
    axes[0][0].set_ylabel("relative log amplitude at pi")
    axes[0][0].legend(fontsize="small")
    save_figure(figure, output_dir / "fourier_depth.png")


def main(argv: list[str] | None = None) -> list[FourierCurves]:
    """Command-line entry point: `inductive-zoo study fourier --model LABEL=SOURCE ... --output_dir DIR`."""
    argv = sys.argv[1:] if argv is None else argv
    parser = analysis_parser(__doc__, num_images=64, output_dir="outputs/study-fourier")
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    record_run(output_dir, "fourier", argv)
    results = []
    batches: dict[int, torch.Tensor] = {}
    for label, source in map(parse_labelled, args.model):
        torch.manual_seed(args.seed)
        model = load_model(source)
        if model.config.image_size not in batches:
            batches[model.config.image_size] = image_batch(args.dataset, args.num_images, model.config.image_size)[1]
        results.append(analyse(label, model, batches[model.config.image_size]))
        logger.info("%s: high-frequency values %s", label, [round(value, 3) for value in results[-1].high_frequency])
    write_outputs(results, output_dir)
    print((output_dir / "fourier.md").read_text())
    return results
