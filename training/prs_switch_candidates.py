"""How PRS-ViT's switch parameterizations keep the function and let a switched block learn (issue "PRS-ViT that does
what its paper describes").

    .venv/bin/python training/prs_switch_candidates.py [--dataset ../shared/datasets/cifar10] [--steps 60]

For each candidate (`reparameterization_switch`, locality strength `alpha`, content gain `g` of the linear gate): the
relative logit change when every reparameterizable block of a micro PRS-ViT (fan-in scaled weights, so each block
changes the logits a lot) switches, on 256 CIFAR-10 test images; then a fresh micro PRS-ViT with every block switched
at step 0 is trained for `--steps` AdamW steps (batch 64, constant lr 1e-3, no warm-up, no augmentation) on CIFAR-10
training images, and per block the content-attention weights, the attention mass outside each query's 3x3
neighbourhood and the mean attention distance are measured on the same 256 test images. Prints one markdown table.
"""

import argparse
from pathlib import Path

import torch
from torch import nn

from inductive_zoo.analysis import attention_mass_outside, mean_attention_distance
from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DecodedImageDataset,
    ImageClassificationCollator,
    load_image_dataset,
)
from inductive_zoo.models.prs_vit import PRSViTConfig, PRSViTForImageClassification

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"
CANDIDATES = (
    ("saturated_gate", 50.0, 1.0),
    ("linear_gate", 50.0, 1.0),
    ("linear_gate", 12.0, 1.0),
    ("linear_gate", 50.0, 4.0),
    ("linear_gate", 50.0, 10.0),
)


def batches(dataset_path: str, split: str, count: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    data = load_image_dataset(dataset_path)
    rows = data.splits[split].shuffle(seed=0).select(range(count))
    dataset = DecodedImageDataset(rows, split, data.image_column, data.label_column, 32)
    collate = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)
    return [
        collate(dataset.__getitems__(list(range(start, start + batch_size)))) for start in range(0, count, batch_size)
    ]


def micro_model(switch: str, alpha: float, gain: float, fan_in_weights: bool) -> PRSViTForImageClassification:
    torch.manual_seed(0)
    config = PRSViTConfig.from_preset(
        "micro-patch4-32",
        num_labels=10,
        reparameterization_switch=switch,
        reparameterization_locality_strength=alpha,
        reparameterization_content_gain=gain,
    )
    model = PRSViTForImageClassification(config)
    if fan_in_weights:
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
    return model


def content_weights(model: PRSViTForImageClassification) -> list[torch.Tensor]:
    """Each reparameterizable block's per-head content weights `1 - positional gate`."""
    return [1 - mixer.positional_gate().detach() for mixer in model.backbone.reparameterizable_mixers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    test_pixels = torch.cat([batch["pixel_values"] for batch in batches(args.dataset, "test", 256, 64)])
    train = batches(args.dataset, "train", 64 * args.steps, 64)
    print(
        "| switch | alpha | gain | relative logit change at the switch | content weight (mean / mean of absolute "
        "values over heads) | mass outside 3x3 | mean distance | training loss, last 10 steps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for switch, alpha, gain in CANDIDATES:
        model = micro_model(switch, alpha, gain, fan_in_weights=True).eval()
        with torch.no_grad():
            before = model(test_pixels).logits
            model.reparameterize(range(model.config.num_reparameterizable_layers))
            change = float((model(test_pixels).logits - before).norm() / before.norm())
        model = micro_model(switch, alpha, gain, fan_in_weights=False)
        model.reparameterize(range(model.config.num_reparameterizable_layers))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        model.train()
        losses = []
        for batch in train:
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            attentions = model(test_pixels, output_attentions=True).attentions
        grid = (8, 8)
        blocks = range(model.config.num_reparameterizable_layers)
        mass = [attention_mass_outside(attentions[block], grid) for block in blocks]
        distance = [mean_attention_distance(attentions[block], grid) for block in blocks]
        weights = [
            " / ".join(f"{float(head.mean()):.2g}, {float(head.abs().mean()):.2g}" for head in content_weights(model))
        ]
        cells = weights + [" / ".join(f"{value:.2g}" for value in values) for values in (mass, distance)]
        last_losses = losses[-10:]
        print(
            f"| {switch} | {alpha:g} | {gain:g} | {change:.1e} | {cells[0]} | {cells[1]} | {cells[2]} | "
            f"{sum(last_losses) / len(last_losses):.3f} |"
        )


if __name__ == "__main__":
    main()
