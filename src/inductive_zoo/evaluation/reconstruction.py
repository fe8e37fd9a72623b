"""Held-out masked-reconstruction loss of a masked-image-modeling model, on the same masks every time."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import IMAGENET_MEAN, IMAGENET_STD, MaskedImageModelingCollator


def held_out_reconstruction_loss(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    seed: int = 0,
    image_mean: tuple[float, ...] = IMAGENET_MEAN,
    image_std: tuple[float, ...] = IMAGENET_STD,
) -> float:
    """The mean loss of a `...ForMaskedImageModeling` over `dataset` in eval mode, weighted by batch size.

    The masks come from a `torch.Generator` seeded with `seed` (the model config's ratio and masking), so two models,
    or one model before and after pre-training, are scored on exactly the same hidden patches: the number the
    isotropic paper compares across token mixers (Cazenavette & Lucey 2021, fig. 1). Torch's global random stream is
    left untouched. `dataset` yields `{"image": float (3, H, W) in [0, 1]}` (a `DecodedImageDataset`). With
    `mim_norm_target` the loss is in per-patch normalised units.
    """
    generator = torch.Generator().manual_seed(seed)
    collator = MaskedImageModelingCollator.from_config(model.config, image_mean, image_std, generator=generator)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator, generator=torch.Generator())
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.inference_mode():
            for batch in loader:
                outputs = model(**{name: value.to(device) for name, value in batch.items()}, return_dict=True)
                total += outputs.loss.item() * len(batch["pixel_values"])
                count += len(batch["pixel_values"])
    finally:
        model.train(was_training)
    if not count:
        raise ValueError("cannot compute a reconstruction loss over an empty dataset")
    return total / count
