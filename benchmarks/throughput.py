"""Throughput of every token-based variant of the zoo next to transformers' ViT, in one run.

    python benchmarks/throughput.py [--preset micro-patch4-32] [--batch_size 64] [--rounds 3]

All models share the PRS-ViT preset's image size, width, depth, heads (9, one per 3x3 tap) and MLP size; ConViT's
GPSA blocks are as many as PRS-ViT's reparameterizable ones. Prints training (forward + backward + AdamW) and
inference images/s with ratios to transformers' `ViTForImageClassification`, medians of interleaved rounds, and
PRS-ViT's convolution mode against its attention mode. (CADA-ResNet, a CNN, has its own benchmark against a plain
ResNet: `benchmarks/cada_throughput.py`.)
"""

import argparse
import copy

import torch
from timing import print_throughput_table, training_and_inference_rates, vit_twin

from inductive_zoo import (
    ConViTConfig,
    ConViTForImageClassification,
    IsoConvNetConfig,
    IsoConvNetForImageClassification,
    IsoMixerConfig,
    IsoMixerForImageClassification,
    IsoTransformerConfig,
    IsoTransformerForImageClassification,
    PRSViTConfig,
    PRSViTForImageClassification,
)
from inductive_zoo.models.ibit import IBiTConfig, IBiTForImageClassification


def models(preset: str) -> dict[str, torch.nn.Module]:
    prs_config = PRSViTConfig.from_preset(preset, num_labels=10)
    shared = {
        key: getattr(prs_config, key)
        for key in ("image_size", "patch_size", "hidden_size", "num_hidden_layers", "intermediate_size")
    }
    reparameterizable = prs_config.num_reparameterizable_layers
    # Separate configs: reparameterize() records the switched layers in the model's config.
    attention = PRSViTForImageClassification(copy.deepcopy(prs_config))
    attention.reparameterize(range(reparameterizable))
    return {
        "PRS-ViT, convolution mode": PRSViTForImageClassification(copy.deepcopy(prs_config)),
        "PRS-ViT, attention mode": attention,
        "ConViT": ConViTForImageClassification(
            ConViTConfig(**shared, num_attention_heads=9, local_up_to_layer=reparameterizable, num_labels=10)
        ),
        "IsoTransformer": IsoTransformerForImageClassification(
            IsoTransformerConfig(**shared, num_attention_heads=9, num_labels=10)
        ),
        "IBiT": IBiTForImageClassification(IBiTConfig(**shared, num_attention_heads=9, num_labels=10)),
        "IsoMixer": IsoMixerForImageClassification(IsoMixerConfig(**shared, num_labels=10)),
        "IsoConvNet": IsoConvNetForImageClassification(IsoConvNetConfig(**shared, num_labels=10)),
        "transformers ViT": vit_twin(prs_config),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="micro-patch4-32")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    candidates = models(args.preset)
    image_size = next(iter(candidates.values())).config.image_size
    train, infer = training_and_inference_rates(candidates, args.batch_size, args.steps, args.rounds, image_size)
    print_throughput_table(
        train,
        infer,
        "transformers ViT",
        title=f"{args.preset}, batch {args.batch_size}",
        ratio_label="vs ViT",
        name_width=27,
    )
    conv, attention = "PRS-ViT, convolution mode", "PRS-ViT, attention mode"
    print(
        f"\nPRS-ViT convolution mode / attention mode: training {train[conv] / train[attention]:.2f}x, "
        f"inference {infer[conv] / infer[attention]:.2f}x"
    )
    print(
        f"IBiT / IsoTransformer: training {train['IBiT'] / train['IsoTransformer']:.2f}x, "
        f"inference {infer['IBiT'] / infer['IsoTransformer']:.2f}x"
    )


if __name__ == "__main__":
    main()
