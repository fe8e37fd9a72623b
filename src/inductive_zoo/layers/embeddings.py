"""Pixels -> token sequence: patch embedding, optional mask and class tokens, position embedding, dropout."""

import torch
from torch import nn
from transformers import PreTrainedConfig

from .patch_embedding import PatchEmbedding
from .position_embedding import PositionEmbedding


class ImageTokenEmbeddings(nn.Module):
    """The embedding stage shared by every token-based variant (ViT, Dosovitskiy et al. 2021, eq. 1).

    Reads `image_size`, `patch_size`, `num_channels`, `hidden_size`, `patch_embedding`, `position_embedding`,
    `pooling` (a class token exists when it is `"cls"`) and `hidden_dropout_prob` from the config.
    With `use_mask_token`, patches flagged in `bool_masked_pos` are replaced by a learned mask token before the
    position embedding is added (BERT-style masked image modeling, as transformers' ViT).

    With `class_token_at_input=False` the class token is not prepended here (and has no position): the backbone
    joins it later with `prepend_class_token`, as ConViT does after its GPSA blocks (d'Ascoli et al. 2021, sec. 3).
    """

    def __init__(
        self, config: PreTrainedConfig, use_mask_token: bool = False, class_token_at_input: bool = True
    ) -> None:
        super().__init__()
        self.image_size = config.image_size
        self.patch_size = config.patch_size
        self.patch_embedding = PatchEmbedding(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if config.pooling == "cls" else None
        self.class_token_at_input = class_token_at_input
        self.num_prefix_tokens = 1 if self.cls_token is not None and class_token_at_input else 0
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if use_mask_token else None
        grid = config.image_size // config.patch_size
        self.position_embedding = PositionEmbedding(
            config.position_embedding, config.hidden_size, (grid, grid), self.num_prefix_tokens
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        pixel_values: torch.Tensor,
        bool_masked_pos: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = pixel_values.shape[-2:]
        if not interpolate_pos_encoding and (height, width) != (self.image_size, self.image_size):
            raise ValueError(
                f"input image size {height}x{width} does not match the model's {self.image_size}x{self.image_size}; "
                "resize the images or pass interpolate_pos_encoding=True"
            )
        embeddings, grid_size = self.patch_embedding(pixel_values)
        if bool_masked_pos is not None:
            if self.mask_token is None:
                raise ValueError("bool_masked_pos was given but this model was built without a mask token")
            mask = bool_masked_pos.reshape(embeddings.shape[0], -1, 1).type_as(embeddings)
            embeddings = embeddings * (1.0 - mask) + self.mask_token.to(embeddings.dtype) * mask
        if self.num_prefix_tokens:
            embeddings = self.prepend_class_token(embeddings)
        embeddings = self.position_embedding(embeddings, grid_size)
        return self.dropout(embeddings), grid_size

    def set_grid_size(self, grid_size: tuple[int, int]) -> None:
        """Takes images of `grid_size * patch_size` pixels from now on (the position embedding moves with the
        model's `set_image_size`)."""
        self.image_size = grid_size[0] * self.patch_size

    def prepend_class_token(self, hidden_states: torch.Tensor) -> torch.Tensor:
        class_token = self.cls_token.to(hidden_states.dtype).expand(hidden_states.shape[0], -1, -1)
        return torch.cat([class_token, hidden_states], dim=1)
