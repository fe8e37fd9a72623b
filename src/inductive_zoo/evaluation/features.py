"""Frozen features of a zoo backbone over a dataset: the input of the k-NN monitor and the linear probe."""

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import IMAGENET_MEAN, IMAGENET_STD, ImageClassificationCollator


def feature_backbone(model: nn.Module) -> nn.Module:
    """The module whose `pooler_output` is the image representation: the backbone of any model that wraps one.

    Follows `base_model` (a `PreTrainedModel`'s `base_model_prefix` attribute: the backbone of every
    `...ForImageClassification` of the zoo) or else a `backbone` attribute (a pre-training wrapper), until a module
    wraps nothing further; a backbone itself is returned unchanged.
    """
    while True:
        inner = getattr(model, "base_model", model)
        if inner is model:
            inner = getattr(model, "backbone", model)
        if inner is model or not isinstance(inner, nn.Module):
            return model
        model = inner


def extract_features(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    collate_fn: Callable[[list[dict]], dict[str, torch.Tensor]] | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen `pooler_output` of `model`'s backbone for every example of `dataset`, in order, and the labels.

    `model` is any zoo model: a backbone (`IsotropicModel`, `CADAResNetModel`, ...), a `...ForImageClassification`,
    or a wrapper with `base_model` or a `backbone` attribute (see `feature_backbone`). The features are those of the
    frozen network, as in the k-NN and linear evaluations of self-supervised learning (Wu et al. 2018; Caron et al.
    2021, DINO): the backbone runs in eval mode (BatchNorm running statistics, no dropout or drop-path) under
    `torch.inference_mode()`, and the train/eval mode of each of its modules is restored afterwards.

    `dataset` yields `{"image": float (3, H, W) in [0, 1], "label": int}` (a `DecodedImageDataset` without a
    `batch_transform`); `collate_fn` turns a list of them into `{"pixel_values", "labels"}`, by default an
    `ImageClassificationCollator` with the ImageNet mean and std of every zoo preset; `num_workers` DataLoader
    processes decode and collate. `device` defaults to the device of the model's parameters. Returns float32
    `(N, hidden)` features and int64 `(N,)` labels on `device`.
    """
    backbone = feature_backbone(model)
    if device is None:
        device = next(backbone.parameters()).device
    collate_fn = collate_fn or ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)
    # A DataLoader draws its workers' base seed from the generator it is given, else from torch's global one: a
    # private generator keeps evaluation (the k-NN monitor mid-training) from changing the run's random stream.
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn, num_workers=num_workers,
        generator=torch.Generator(),
    )  # fmt: skip
    modes = {module: module.training for module in backbone.modules()}
    backbone.eval()
    features, labels = [], []
    try:
        with torch.inference_mode():
            for batch in loader:
                outputs = backbone(pixel_values=batch["pixel_values"].to(device), return_dict=True)
                features.append(outputs.pooler_output.float())
                labels.append(batch["labels"].to(device))
    finally:
        for module, training in modes.items():
            module.train(training)
    if not features:
        raise ValueError("cannot extract features from an empty dataset")
    return torch.cat(features), torch.cat(labels)
