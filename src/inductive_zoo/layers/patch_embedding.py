"""Patch embedding: image -> grid of tokens. Linear (ViT) or a small convolutional stem (an inductive-bias switch)."""

import math

import torch
from torch import nn
from transformers import PreTrainedConfig


class PatchEmbedding(nn.Module):
    """Turns `(batch, channels, height, width)` pixels into `(batch, num_patches, hidden_size)` tokens.

    `config.patch_embedding` selects the kind:
    - `"linear"`: one non-overlapping `patch_size x patch_size` projection (Dosovitskiy et al. 2021, eq. 1);
    - `"conv_stem"`: `log2(patch_size)` stride-2 3x3 convolutions with BatchNorm and GELU, then a 1x1 projection
      (Xiao et al. 2021, "Early Convolutions Help Transformers See Better"); the overlapping receptive fields add
      locality before the first token mixer. Widths double from `hidden_size / 2**(n-1)` up to `hidden_size`.

    Returns the tokens and the `(grid_height, grid_width)` of the patch grid.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__()
        self.num_channels = config.num_channels
        self.patch_size = config.patch_size
        self.kind = config.patch_embedding
        if self.kind == "linear":
            self.projection = nn.Conv2d(
                config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
            )
        else:
            num_stages = int(math.log2(config.patch_size))
            layers: list[nn.Module] = []
            in_channels = config.num_channels
            for stage in range(num_stages):
                out_channels = max(config.hidden_size // 2 ** (num_stages - 1 - stage), 8)
                layers += [
                    nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.GELU(),
                ]
                in_channels = out_channels
            self.stem = nn.Sequential(*layers)
            self.projection = nn.Conv2d(in_channels, config.hidden_size, kernel_size=1)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"image size {height}x{width} is not divisible by the patch size {self.patch_size}")
        features = pixel_values if self.kind == "linear" else self.stem(pixel_values)
        features = self.projection(features)
        grid_size = (features.shape[-2], features.shape[-1])
        return features.flatten(2).transpose(1, 2), grid_size
