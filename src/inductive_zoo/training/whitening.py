"""Whitening initialisation of a network's first convolution from the training images' patches.

The fastest CIFAR-10 recipes (Page 2018, "How to train your ResNet"; Jordan 2024, airbench, section 3.2) start the
first layer as a whitening transform of the input patches instead of random filters: the filters are the
eigenvectors `v_i` of the patch covariance scaled by `1 / sqrt(lambda_i + eps)`, so the layer's outputs on the
training patches are decorrelated and of unit variance from the first step, and the network need not learn that
first. With room for them, the filters are followed by their negations (before a GELU or ReLU, `x` and `-x` keep
both signs of each whitened direction); the remaining filters keep their random initialisation. A layer with fewer
filters than patch dimensions gets the directions of largest variance.

`whiten_first_convolution` applies it to the first convolution over the image channels of any model of the zoo: the
linear patch embedding or the convolutional stem of the isotropic variants, the stem of CADA-ResNet, transformers'
ResNet and FastConvNet.
"""

import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_EPS = 5e-4


def first_image_convolution(model: nn.Module, num_channels: int) -> nn.Conv2d:
    """The first `nn.Conv2d` of `model` (in module order) that takes `num_channels` input channels, ungrouped.

    Raises:
        ValueError: the model has none (e.g. a model without convolutions).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == num_channels and module.groups == 1:
            return module
    raise ValueError(f"{type(model).__name__} has no convolution over {num_channels} image channels to whiten")


def convolution_patches(convolution: nn.Conv2d, pixel_values: torch.Tensor) -> torch.Tensor:
    """The input patches `convolution` sees on `pixel_values`: `(num_patches, in_channels * kh * kw)`, in the layout
    of its flattened weight."""
    patches = F.unfold(
        pixel_values.float(),
        kernel_size=convolution.kernel_size,
        dilation=convolution.dilation,
        padding=convolution.padding,
        stride=convolution.stride,
    )
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])


def whitening_filters(patches: torch.Tensor, eps: float = DEFAULT_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Whitening filters of `patches` `(n, d)`, as rows `(d, d)` ordered by decreasing variance, and the patches'
    mean `(d,)`: `filters @ (p - mean)` has covariance `diag(lambda / (lambda + eps))`, the identity up to `eps`.

    Raises:
        ValueError: fewer than two patches.
    """
    if patches.shape[0] < 2:
        raise ValueError(f"whitening needs at least two patches, got {patches.shape[0]}")
    patches = patches.double()
    mean = patches.mean(dim=0)
    centred = patches - mean
    covariance = centred.T @ centred / (patches.shape[0] - 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    order = eigenvalues.argsort(descending=True)
    eigenvalues, eigenvectors = eigenvalues[order].clamp(min=0), eigenvectors[:, order]
    filters = eigenvectors.T / (eigenvalues + eps).sqrt().unsqueeze(1)
    return filters.float(), mean.float()


@torch.no_grad()
def whiten_first_convolution(model: nn.Module, pixel_values: torch.Tensor, eps: float = DEFAULT_EPS) -> nn.Conv2d:
    """Sets the first image convolution of `model` (`first_image_convolution`) to whitening filters of its input
    patches on `pixel_values` (normalised training images, `(batch, channels, height, width)`): the first `d`
    filters whiten (`d` = its patch dimension, or all its filters if it has fewer), the next `d` are their negations
    where there is room, the rest are kept. Its bias, if it has one, centres the whitened outputs on the patches'
    mean. Returns the convolution.

    Raises:
        ValueError: the model has no image convolution, or `pixel_values` has another number of channels.
    """
    num_channels = pixel_values.shape[1]
    convolution = first_image_convolution(model, num_channels)
    filters, mean = whitening_filters(convolution_patches(convolution, pixel_values), eps)
    out_channels = convolution.out_channels
    whitened = filters[:out_channels]
    rows = [whitened]
    if out_channels >= 2 * len(whitened):
        rows.append(-whitened)
    new_weight = torch.cat(rows)
    count = len(new_weight)
    weight = convolution.weight
    weight[:count] = new_weight.view(count, *weight.shape[1:]).to(weight)
    if convolution.bias is not None:
        convolution.bias[:count] = -(new_weight @ mean).to(convolution.bias)
    return convolution
