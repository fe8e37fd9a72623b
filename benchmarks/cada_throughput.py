"""CADA-ResNet (relaxed and strict invariance) against the plain ResNet of the same layout (`mixer="conv"`).

    python benchmarks/cada_throughput.py [--preset resnet26-32] [--batch_size 32] [--steps 2] [--rounds 3]
    python benchmarks/cada_throughput.py --preset resnet50-224 --batch_size 8 --steps 1

Every model has the preset's stem, depths and widths; only the layer at the bottleneck's 3x3 position differs
(CADA with the config's defaults: 4 bases, 3x3, the relative-position term, one context group). Prints training
(forward + backward + AdamW) and inference images/s with ratios to the plain ResNet, medians of interleaved rounds.
"""

import argparse

import torch
from timing import print_throughput_table, training_and_inference_rates

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
    train, infer = training_and_inference_rates(candidates, args.batch_size, args.steps, args.rounds, image_size)
    print_throughput_table(
        train,
        infer,
        PLAIN,
        title=f"{args.preset}, batch {args.batch_size}",
        ratio_label="vs plain",
        name_width=23,
        decimals=1,
        params=candidates,
    )


if __name__ == "__main__":
    main()
