"""CADA-ResNet (relaxed and strict invariance) against the plain ResNet of the same layout (`mixer="conv"`).

    python benchmarks/cada_throughput.py [--preset resnet26-32] [--batch_size 32] [--steps 2] [--rounds 3]
    python benchmarks/cada_throughput.py --preset resnet50-224 --batch_size 8 --steps 1

Every model has the preset's stem, depths and widths; only the layer at the bottleneck's 3x3 position differs
(CADA with the config's defaults: 4 bases, 3x3, the relative-position term, one context group). Prints training
(forward + backward + AdamW) and inference images/s with ratios to the plain ResNet, medians of interleaved rounds.
"""

import argparse

import torch
from timing import inference_step_fn, interleaved_medians, training_step_fn

from inductive_zoo import CADAResNetConfig, CADAResNetForImageClassification

PLAIN = "plain ResNet (3x3 conv)"


def models(preset: str) -> dict[str, CADAResNetForImageClassification]:
    def build(**overrides) -> CADAResNetForImageClassification:
        return CADAResNetForImageClassification(CADAResNetConfig.from_preset(preset, num_labels=10, **overrides))

    return {
        "CADA-ResNet, relaxed": build(invariance="relaxed"),
        "CADA-ResNet, strict": build(invariance="strict"),
        PLAIN: build(mixer="conv"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="resnet26-32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per model and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    candidates = models(args.preset)
    image_size = candidates[PLAIN].config.image_size
    train = interleaved_medians(
        {name: training_step_fn(model, args.batch_size, image_size) for name, model in candidates.items()},
        args.batch_size,
        args.steps,
        args.rounds,
    )
    infer = interleaved_medians(
        {name: inference_step_fn(model, args.batch_size, image_size) for name, model in candidates.items()},
        args.batch_size,
        args.steps,
        args.rounds,
    )
    device = "CPU" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    print(f"\n{args.preset}, batch {args.batch_size}, torch {torch.__version__}, {device}, "
          f"{torch.get_num_threads()} threads\n")  # fmt: skip
    columns = ("params", "train img/s", "vs plain", "infer img/s", "vs plain")
    print(f"| {'model':<23} | " + " | ".join(columns) + " |")
    print(f"|{'-' * 25}|" + "|".join("-" * (len(column) + 2) for column in columns) + "|")
    for name, model in candidates.items():
        params = f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M"
        print(
            f"| {name:<23} | {params:>6} | {train[name]:>11.1f} | {train[name] / train[PLAIN]:>8.2f} "
            f"| {infer[name]:>11.1f} | {infer[name] / infer[PLAIN]:>8.2f} |"
        )


if __name__ == "__main__":
    main()
