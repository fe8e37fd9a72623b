"""Timing helpers shared by the benchmark scripts (run as `python benchmarks/<script>.py`)."""

import contextlib
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import torch
from transformers import ViTConfig, ViTForImageClassification


def synchronize() -> None:
    """Waits for queued CUDA work (timings of asynchronous GPU kernels would otherwise stop too early)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def images_per_second(step: Callable[[], None], batch_size: int, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def autocast_context(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """`torch.autocast` to `dtype` on `device`, or nothing when `dtype` is None."""
    return torch.autocast(device_type=device, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def training_step_fn(
    model: torch.nn.Module,
    batch_size: int,
    image_size: int = 32,
    device: str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> Callable[[], None]:
    """One forward + backward + AdamW step on a fixed random batch (the forward under `autocast_dtype` autocast)."""
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(batch_size, 3, image_size, image_size, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    model.train()

    def step() -> None:
        with autocast_context(device, autocast_dtype):
            loss = model(pixel_values=pixels, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def inference_step_fn(
    model: torch.nn.Module,
    batch_size: int,
    image_size: int = 32,
    device: str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> Callable[[], None]:
    model.to(device)
    pixels = torch.randn(batch_size, 3, image_size, image_size, device=device)
    model.eval()

    def step() -> None:
        with torch.inference_mode(), autocast_context(device, autocast_dtype):
            model(pixel_values=pixels)

    return step


def interleaved_medians(
    steps: dict[str, Callable[[], None]], batch_size: int, steps_per_round: int, rounds: int
) -> dict[str, float]:
    """Images/s of each step, timed in interleaved rounds after one warm-up each; the median per step.

    Interleaving spreads the machine's drift over all candidates: whichever ran first would otherwise pay for it.
    """
    for step in steps.values():
        step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            rates[name].append(images_per_second(step, batch_size, steps_per_round, warmup=0))
    return {name: statistics.median(values) for name, values in rates.items()}


def training_and_inference_rates(
    candidates: Mapping[str, torch.nn.Module],
    batch_size: int,
    steps: int,
    rounds: int,
    image_size: int,
    device: str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Training (forward + backward + AdamW) and inference images/s of each model on `device`, each the median of
    `rounds` interleaved rounds of `steps` steps (`interleaved_medians`)."""
    settings = (batch_size, image_size, device, autocast_dtype)
    train = interleaved_medians(
        {name: training_step_fn(model, *settings) for name, model in candidates.items()},
        batch_size,
        steps,
        rounds,
    )
    infer = interleaved_medians(
        {name: inference_step_fn(model, *settings) for name, model in candidates.items()},
        batch_size,
        steps,
        rounds,
    )
    return train, infer


def print_throughput_table(
    train: Mapping[str, float],
    infer: Mapping[str, float],
    baseline_name: str,
    *,
    title: str,
    ratio_label: str,
    name_width: int,
    decimals: int = 0,
    params: Mapping[str, torch.nn.Module] | None = None,
    device_name: str | None = None,
    extra_columns: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Prints `title` with the torch version, device (`device_name`, by default the CUDA device if there is one,
    else CPU) and thread count, then a Markdown table: a row per model (in the order of `train`), with its training
    and inference images/s (`decimals` decimals) and their ratios to `baseline_name`'s in columns headed
    `ratio_label`; with `params`, a first column of parameter counts (millions); `extra_columns` (heading -> model ->
    text) are appended.
    """
    if device_name is None:
        device_name = "CPU" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    print(f"\n{title}, torch {torch.__version__}, {device_name}, {torch.get_num_threads()} threads\n")
    extra_columns = extra_columns or {}
    columns = (
        (("params",) if params is not None else ())
        + ("train img/s", ratio_label, "infer img/s", ratio_label)
        + tuple(extra_columns)
    )

    def row(first: str, cells: Sequence[str]) -> str:
        """A table row: `first` left-aligned, each cell right-aligned to its column's heading."""
        aligned = (f"{cell:>{len(column)}}" for cell, column in zip(cells, columns, strict=True))
        return f"| {first:<{name_width}} | " + " | ".join(aligned) + " |"

    print(row("model", columns))
    print(f"|{'-' * (name_width + 2)}|" + "|".join("-" * (len(column) + 2) for column in columns) + "|")
    for name in train:
        cells = [f"{sum(p.numel() for p in params[name].parameters()) / 1e6:.1f}M"] if params is not None else []
        for rates in (train, infer):
            cells += [f"{rates[name]:.{decimals}f}", f"{rates[name] / rates[baseline_name]:.2f}"]
        cells += [values[name] for values in extra_columns.values()]
        print(row(name, cells))


def vit_twin(config) -> ViTForImageClassification:
    """transformers' ViT with the same image, patch, width, depth, heads and MLP size as one of our configs."""
    return ViTForImageClassification(
        ViTConfig(
            image_size=config.image_size,
            patch_size=config.patch_size,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            num_labels=config.num_labels,
        )
    )
