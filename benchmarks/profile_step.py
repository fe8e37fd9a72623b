"""Where a training step's CPU time goes, fp32 against bf16 autocast: torch.profiler's operators by self time.

    python benchmarks/profile_step.py [--variant prs_vit] [--batch_size 128] [--steps 3] [--top 15]
    python benchmarks/profile_step.py --recipe cifar10-10pct-iso-transformer   # the model a recipe trains

The model is the variant at 6 blocks x 192 wide (PRS-ViT 216 wide, 9 heads, every block in attention mode; ConViT
5 GPSA blocks), patch 4, 32x32 inputs: the sizes of the bf16 measurements in the issue on speed. One forward +
backward + AdamW step on a fixed random batch is profiled `--steps` times after a warm-up step, in fp32 and with
the forward under `torch.autocast("cpu", torch.bfloat16)` (fp32 master weights), in the same process. Prints, per
precision, the total step time and the `--top` operators by self CPU time with their share of the step.
"""

import argparse

import torch
from throughput import recipe_builders
from timing import training_step_fn
from torch.profiler import ProfilerActivity, profile

from inductive_zoo import ConViTConfig, IsoTransformerConfig, PRSViTConfig
from inductive_zoo.models.registry import VARIANTS

SIZES = {
    "iso_transformer": (IsoTransformerConfig, dict(hidden_size=192, num_attention_heads=3)),
    "convit": (ConViTConfig, dict(hidden_size=192, num_attention_heads=3, local_up_to_layer=5)),
    "prs_vit": (PRSViTConfig, dict(hidden_size=216, num_attention_heads=9, num_reparameterizable_layers=5,
                                   attention_layers=[0, 1, 2, 3, 4])),
}  # fmt: skip


def build(variant: str) -> torch.nn.Module:
    config_class, dims = SIZES[variant]
    config = config_class(
        image_size=32, patch_size=4, num_hidden_layers=6, intermediate_size=4 * dims["hidden_size"], num_labels=10,
        **dims,
    )  # fmt: skip
    classifier = next(classifier for config_type, _, classifier in VARIANTS if config_type is config_class)
    torch.manual_seed(0)
    return classifier(config)


def profile_steps(
    name: str, model: torch.nn.Module, batch_size: int, steps: int, dtype: torch.dtype | None, top: int
) -> None:
    step = training_step_fn(model, batch_size, autocast_dtype=dtype)
    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    label = "bf16 autocast" if dtype is not None else "fp32"
    print(f"\n{name}, {label}: {total / steps / 1e6:.3f} s per step ({torch.get_num_threads()} threads)")
    print("| operator | self CPU per step (ms) | share |")
    print("|---|---|---|")
    for event in sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]:
        share = event.self_cpu_time_total / total
        print(f"| `{event.key}` | {event.self_cpu_time_total / steps / 1e3:.1f} | {share:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(SIZES), default="prs_vit")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--recipe", default=None, help="instead of --variant: the model this recipe trains")
    args = parser.parse_args()
    for dtype in (None, torch.bfloat16):
        if args.recipe:
            torch.manual_seed(0)
            name, model = args.recipe, recipe_builders([args.recipe])[args.recipe]()
        else:
            name, model = args.variant, build(args.variant)
        profile_steps(name, model, args.batch_size, args.steps, dtype, args.top)


if __name__ == "__main__":
    main()
