"""Throughput and peak memory of every variant of the zoo next to transformers' ViT, in one run on one machine.

    python benchmarks/throughput.py [--preset micro-patch4-32] [--batch_size 64] [--rounds 3] [--steps 3]
    python benchmarks/throughput.py --modes [--models IsoTransformer,ConViT]   # eager / compile / bf16 / both
    python benchmarks/throughput.py --modes --recipes cifar10-10pct-ibit,cifar10-10pct-vit --batch_size 128

All token variants share the PRS-ViT preset's image size, width, depth, heads (9, one per 3x3 tap) and MLP size;
ConViT's GPSA blocks are as many as PRS-ViT's reparameterizable ones. CADA-ResNet, a CNN without width/depth/heads
of the same meaning, runs at the same image size with its own `--cada_preset` (a separate row, not a like-for-like
comparison; `benchmarks/cada_throughput.py` compares it with a plain ResNet of its layout).

Per device (the CPU; and, when CUDA is available, the GPU with bf16 autocast) it prints training (forward +
backward + AdamW step) and inference images/s, medians of interleaved rounds, with ratios to transformers'
`ViTForImageClassification` of the same hyperparameters, and peak memory:

- CPU: growth of the resident set (VmHWM - VmRSS, Linux `/proc/self/status`) over a few steps, each model measured
  in its own fresh process (so no other model's freed but retained heap hides its allocations), after the model,
  its batch and its optimiser are built: activations, gradients, AdamW state and allocator overhead;
- GPU: `torch.cuda.max_memory_allocated()` over the steps minus the memory allocated before them.

Then the achieved GFLOP/s of the IsoTransformer training step (forward + backward FLOPs counted by
`torch.utils.flop_counter.FlopCounterMode`, the AdamW update not counted, divided by the measured step time) against
a large fp32 matmul timed in the same run, and PASS/FAIL per target: IsoTransformer >= 1.0x transformers' ViT in
training and inference, IBiT at most 1.3x slower than IsoTransformer, PRS-ViT faster in convolution than in
attention mode.
"""

import argparse
import copy
import multiprocessing
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from timing import (
    autocast_context,
    inference_step_fn,
    interleaved_medians,
    print_throughput_table,
    synchronize,
    training_and_inference_rates,
    training_step_fn,
    vit_twin,
)
from torch.utils.flop_counter import FlopCounterMode

from inductive_zoo import MANIFESTS, PRSViTConfig
from inductive_zoo.training.config_overrides import overrides_text
from inductive_zoo.training.image_classification import ModelArguments, build_model
from inductive_zoo.training.recipes import get_recipe

VIT = "transformers ViT"
ISO = "IsoTransformer"
IBIT = "IBiT"
PRS_CONV, PRS_ATTENTION = "PRS-ViT, convolution mode", "PRS-ViT, attention mode"
MIB = 2**20


def model_builders(preset: str, cada_preset: str) -> dict[str, Callable[[], torch.nn.Module]]:
    """A constructor per benchmarked model, one per variant of `inductive_zoo.MANIFESTS` at the PRS-ViT preset's
    size (`VariantManifest.matched_overrides`; a convolutional variant at `cada_preset`), a reparameterizable one
    also with every layer switched to attention, and transformers' ViT (constructors, so that a fresh process can
    build just one)."""
    prs_config = PRSViTConfig.from_preset(preset, num_labels=10)
    builders: dict[str, Callable[[], torch.nn.Module]] = {}
    for manifest in MANIFESTS:
        reparameterizable = hasattr(manifest.image_classification_class, "reparameterize")
        if manifest.model_class.is_token_model:
            name = f"{manifest.display_name}, convolution mode" if reparameterizable else manifest.display_name
            config = manifest.config_class(**manifest.matched_overrides(prs_config), num_labels=10)
        else:
            name = f"{manifest.display_name} {cada_preset} (own dims)"
            config = manifest.config_class.from_preset(cada_preset, image_size=prs_config.image_size, num_labels=10)

        def build(manifest=manifest, config=config) -> torch.nn.Module:
            # A copy of the config per model: reparameterize() records the switched layers in the model's config.
            return manifest.image_classification_class(copy.deepcopy(config))

        builders[name] = build
        if reparameterizable:

            def build_switched(build=build) -> torch.nn.Module:
                model = build()
                model.reparameterize(range(len(model.layer_modes)))
                return model

            builders[f"{manifest.display_name}, attention mode"] = build_switched
    builders[VIT] = lambda: vit_twin(prs_config)
    return builders


def recipe_builders(names: list[str]) -> dict[str, Callable[[], torch.nn.Module]]:
    """A constructor per named recipe of the catalogue: the model the recipe trains, freshly initialised."""
    builders = {}
    for name in names:
        arguments = get_recipe(name).arguments
        if "model_name_or_path" in arguments:
            raise ValueError(f"recipe {name} fine-tunes a checkpoint; benchmark the recipe that trains its model")
        fields = {field: arguments[field] for field in ("model_type", "preset", "image_size") if field in arguments}
        if "config_overrides" in arguments:
            fields["config_overrides"] = overrides_text(arguments["config_overrides"])
        model_args = ModelArguments(**fields)
        builders[name] = lambda model_args=model_args: build_model(model_args, [str(label) for label in range(10)])[0]
    return builders


def resident_kib(field: str) -> int:
    """A memory field of this process from `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def cpu_peak_growth(preset: str, cada_preset: str, name: str, kind: str, batch_size: int, steps: int) -> float:
    """Runs in a fresh process: peak resident-set growth (MiB) of `steps` `kind` ("train" or "infer") steps over
    the resident set once the model, batch and optimiser exist. The high-water mark is reset through
    `/proc/self/clear_refs` (Linux >= 4.0) right before the steps."""
    torch.manual_seed(0)
    model = model_builders(preset, cada_preset)[name]()
    make_step = training_step_fn if kind == "train" else inference_step_fn
    step = make_step(model, batch_size, model.config.image_size)
    baseline = resident_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    for _ in range(steps):
        step()
    return (resident_kib("VmHWM") - baseline) / 1024


def cuda_peak_growth(model: torch.nn.Module, batch_size: int, image_size: int, steps: int) -> tuple:
    """Peak allocated CUDA memory (MiB) of `steps` inference and of as many training steps (bf16 autocast), each
    over the memory allocated before it."""
    peaks = {}
    for kind, make_step in (("train", training_step_fn), ("infer", inference_step_fn)):
        step = make_step(model, batch_size, image_size, "cuda", torch.bfloat16)
        synchronize()
        baseline = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(steps):
            step()
        synchronize()
        peaks[kind] = (torch.cuda.max_memory_allocated() - baseline) / MIB
    model.to("cpu")
    torch.cuda.empty_cache()
    return peaks["infer"], peaks["train"]


def matmul_gflops(size: int, device: str, dtype: torch.dtype, repeats: int = 5) -> float:
    """GFLOP/s of a `size x size` matmul (2 size^3 FLOPs), the median of `repeats` timings after a warm-up."""
    left = torch.randn(size, size, device=device, dtype=dtype)
    right = torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(left, right)
    timings = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        torch.matmul(left, right)
        synchronize()
        timings.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(timings) / 1e9


def training_step_flops(model: torch.nn.Module, batch_size: int, image_size: int, device: str, dtype) -> int:
    """FLOPs of one forward + backward pass (matmuls, convolutions, attention), counted by `FlopCounterMode`."""
    pixels = torch.randn(batch_size, 3, image_size, image_size, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    model.to(device).train()
    with FlopCounterMode(display=False) as counter:
        with autocast_context(device, dtype):
            loss = model(pixel_values=pixels, labels=labels).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def check(label: str, value: float, target: float) -> bool:
    passed = value >= target
    print(f"{'PASS' if passed else 'FAIL'}: {label}: {value:.2f} (target >= {target:.2f})")
    return passed


def benchmark_device(args: argparse.Namespace, device: str) -> None:
    autocast_dtype = torch.bfloat16 if device == "cuda" else None
    builders = model_builders(args.preset, args.cada_preset)
    torch.manual_seed(0)
    candidates = {name: build() for name, build in builders.items()}
    image_size = candidates[VIT].config.image_size
    settings = (args.batch_size, image_size, device, autocast_dtype)
    train, infer = training_and_inference_rates(candidates, args.batch_size, args.steps, args.rounds, *settings[1:])
    if device == "cuda":
        peaks = {
            name: cuda_peak_growth(model, args.batch_size, image_size, args.steps) for name, model in candidates.items()
        }
        memory_label = "CUDA max allocated growth"
    else:
        # One fresh process per model and kind: a process's heap keeps freed memory, which would hide allocations.
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            peaks = {
                name: tuple(
                    pool.apply(
                        cpu_peak_growth, (args.preset, args.cada_preset, name, kind, args.batch_size, args.steps)
                    )
                    for kind in ("infer", "train")
                )
                for name in candidates
            }
        memory_label = "resident-set peak growth"
    device_name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print_throughput_table(
        train,
        infer,
        VIT,
        title=f"{args.preset}, batch {args.batch_size}, {device}{' bf16 autocast' if autocast_dtype else ' fp32'}",
        ratio_label="vs ViT",
        name_width=36,
        params=candidates,
        device_name=device_name,
        extra_columns={
            "train peak MiB": {name: f"{peak[1]:.0f}" for name, peak in peaks.items()},
            "infer peak MiB": {name: f"{peak[0]:.0f}" for name, peak in peaks.items()},
        },
    )
    print(f"(peak memory: {memory_label} over {args.steps} steps)")

    flops = training_step_flops(candidates[ISO], *settings)
    achieved = flops * train[ISO] / args.batch_size / 1e9
    size = args.matmul_size or (8192 if device == "cuda" else 2048)
    print(f"\nIsoTransformer training step: {flops / 1e9:.2f} GFLOP per step (forward + backward, FlopCounterMode)")
    print(f"achieved {achieved:.1f} GFLOP/s", end="")
    peak_fp32 = matmul_gflops(size, device, torch.float32)
    print(f"; a {size}x{size} fp32 matmul: {peak_fp32:.1f} GFLOP/s -> {achieved / peak_fp32:.1%} of it", end="")
    if device == "cuda":
        peak_bf16 = matmul_gflops(size, device, torch.bfloat16)
        print(f"; bf16 matmul: {peak_bf16:.1f} GFLOP/s -> {achieved / peak_bf16:.1%} of it", end="")
    print("\n")
    check(f"{device}: IsoTransformer / transformers ViT, training", train[ISO] / train[VIT], 1.0)
    check(f"{device}: IsoTransformer / transformers ViT, inference", infer[ISO] / infer[VIT], 1.0)
    check(f"{device}: IBiT speed / IsoTransformer speed, training (<= 1.3x slower)", train[IBIT] / train[ISO], 1 / 1.3)
    check(f"{device}: IBiT speed / IsoTransformer speed, inference (<= 1.3x slower)", infer[IBIT] / infer[ISO], 1 / 1.3)
    check(f"{device}: PRS-ViT convolution / attention mode, training", train[PRS_CONV] / train[PRS_ATTENTION], 1.0)
    check(f"{device}: PRS-ViT convolution / attention mode, inference", infer[PRS_CONV] / infer[PRS_ATTENTION], 1.0)


# Execution modes of `--modes`: (compile, autocast to bf16 on CPU / the device's reduced precision).
MODES = {"eager": (False, False), "compile": (True, False), "bf16": (False, True), "compile+bf16": (True, True)}


def benchmark_modes(args: argparse.Namespace, device: str) -> None:
    """Training images/s of each model in every execution mode (`MODES`: eager fp32, `torch.compile`, bf16
    autocast, both), the median of interleaved rounds per mode, with each mode's ratio to eager."""
    if args.recipes:
        builders = recipe_builders(args.recipes.split(","))
    else:
        builders = model_builders(args.preset, args.cada_preset)
    names = [name for name in builders if not args.models or any(part in name for part in args.models.split(","))]
    rates: dict[str, dict[str, float]] = {}
    selected = ["eager", *(mode for mode in args.only.split(",") if mode != "eager")] if args.only else list(MODES)
    if unknown := sorted(set(selected) - set(MODES)):
        raise SystemExit(f"unknown modes {unknown}; choose from {list(MODES)}")
    modes = {mode: MODES[mode] for mode in selected}
    for mode, (compiled, reduced) in modes.items():
        torch.manual_seed(0)
        models = {name: builders[name]().to(device) for name in names}
        steps = {
            name: training_step_fn(
                torch.compile(model) if compiled else model,
                args.batch_size,
                getattr(model.config, "image_size", None) or 32,
                device,
                torch.bfloat16 if reduced else None,
            )
            for name, model in models.items()
        }
        # The first call of a compiled step compiles it: interleaved_medians warms every step up before timing.
        rates[mode] = interleaved_medians(steps, args.batch_size, args.steps, args.rounds)
    what = args.recipes or args.preset
    print(f"\nTraining img/s by mode, {what}, batch {args.batch_size}, {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")  # fmt: skip
    print("| model | " + " | ".join(f"{mode} img/s | vs eager" for mode in modes) + " |")
    print("|---|" + "---:|---:|" * len(modes))
    for name in names:
        cells = [f"{rates[mode][name]:.0f} | {rates[mode][name] / rates['eager'][name]:.2f}x" for mode in modes]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="micro-patch4-32")
    parser.add_argument("--cada_preset", default="micro-32")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--matmul_size", type=int, default=None, help="default 2048 on CPU, 8192 on GPU")
    parser.add_argument("--cpu_only", action="store_true", help="skip the GPU run even if CUDA is available")
    parser.add_argument(
        "--modes", action="store_true", help="instead: training speed in eager / compile / bf16 / compile + bf16"
    )
    parser.add_argument("--models", default="", help="with --modes: only models whose name contains one of these")
    parser.add_argument("--recipes", default="", help="with --modes: the models of these comma-separated recipes")
    parser.add_argument("--only", default="", help=f"with --modes: these of {list(MODES)} (eager always included)")
    args = parser.parse_args()
    run = benchmark_modes if args.modes else benchmark_device
    run(args, "cpu")
    if torch.cuda.is_available() and not args.cpu_only:
        run(args, "cuda")


if __name__ == "__main__":
    main()
