"""Is data loading ever the bottleneck? Augmentation images/s beside model training images/s, on this machine.

    python benchmarks/augmentation.py [--dataset ../shared/datasets/cifar10] [--batch_size 128] [--rounds 3]

Prints one table: the data path (decode + batched augmentation + collate, one process), the batched augmentation
alone, the zoo recipes' augmentation with its parameters drawn per batch and per image (`per_image_draws`), and a
training step (forward + backward + AdamW) of IsoTransformer presets next to transformers'
`ViTForImageClassification` with the same hyperparameters, with the ratio of data to training throughput.
"""

import argparse
from pathlib import Path

import torch
from timing import images_per_second, interleaved_medians, training_step_fn, vit_twin

from inductive_zoo import IsoTransformerConfig, IsoTransformerForImageClassification
from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentationConfig,
    BatchAugmentation,
    DecodedImageDataset,
    ImageClassificationCollator,
    load_image_dataset,
)

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET) if DEFAULT_DATASET.exists() else "digits")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed data batches")
    parser.add_argument("--train_steps", type=int, default=3, help="timed training steps per model and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--presets", nargs="+", default=["micro-patch4-32", "tiny-patch4-32"])
    args = parser.parse_args()
    torch.manual_seed(0)

    data = load_image_dataset(args.dataset)
    train = data.splits["train"].select(range(args.batch_size * (args.steps + 1)))
    augmentation = BatchAugmentation()
    dataset = DecodedImageDataset(
        train, "train", data.image_column, data.label_column, 32, batch_transform=augmentation
    )
    collate = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)
    batch = args.batch_size
    batches = iter(range(args.steps + 1))

    def data_step() -> None:
        start = next(batches) * args.batch_size
        collate(dataset.__getitems__(list(range(start, start + args.batch_size))))

    images = torch.rand(args.batch_size, 3, 32, 32)
    seeds = list(range(args.batch_size))
    # The zoo's small-data augmentation (pad-4 crop, flip, RandAugment(2, 9)), drawn per batch and per image.
    recipe = {"crop_padding": 4, "jitter_prob": 0.0, "auto_augment": "randaugment"}
    per_batch = BatchAugmentation(AugmentationConfig(**recipe, per_image_draws=False))
    per_image = BatchAugmentation(AugmentationConfig(**recipe))
    rows = [
        ("data: decode + augment + collate", images_per_second(data_step, args.batch_size, args.steps)),
        ("augmentation alone (batched)", images_per_second(lambda: augmentation(images), args.batch_size, args.steps)),
        ("zoo augmentation, drawn per batch", images_per_second(lambda: per_batch(images, seeds), batch, args.steps)),
        ("zoo augmentation, drawn per image", images_per_second(lambda: per_image(images, seeds), batch, args.steps)),
    ]
    data_rate = rows[0][1]
    for preset in args.presets:
        config = IsoTransformerConfig.from_preset(preset, num_labels=10)
        steps = {
            f"train IsoTransformer {preset}": training_step_fn(IsoTransformerForImageClassification(config), batch),
            f"train transformers ViT {preset}": training_step_fn(vit_twin(config), batch),
        }
        rows += list(interleaved_medians(steps, batch, args.train_steps, args.rounds).items())

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.dataset}\n")
    print(f"| {'what':<44} | {'images/s':>10} | {'data / this':>11} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 13}|")
    for name, rate in rows:
        print(f"| {name:<44} | {rate:>10.0f} | {data_rate / rate:>10.1f}x |")
    for preset in args.presets:
        ours = dict(rows)[f"train IsoTransformer {preset}"]
        theirs = dict(rows)[f"train transformers ViT {preset}"]
        print(f"\nIsoTransformer / transformers ViT training throughput, {preset}: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
