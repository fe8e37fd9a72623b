"""PRS-ViT's reparameterizable token mixer (Lee et al. 2022): a convolution that switches into GPSA attention."""

import torch
from torch.nn import functional as F
from transformers import PreTrainedConfig
from transformers import initialization as init

from .positional_attention import GatedPositionalSelfAttention, kernel_offsets
from .registry import register_token_mixer

CONVOLUTION, ATTENTION = "convolution", "attention"


@register_token_mixer("reparameterizable_conv_attention", per_layer=True)
class ReparameterizableConvAttention(GatedPositionalSelfAttention):
    """A token mixer with two modes over `k^2` heads that share the value and output projections.

    - Convolution mode: `out = sum_h shift_{Delta_h}(X W_v^h) W_o^h + b`, head `h` reading the token at the kernel
      offset `Delta_h` (replicate padding at the border): a `k x k` convolution whose tap `h` is `W_v^h W_o^h`,
      computed as one gather between the two projections; no `N x N` attention is formed.
    - Attention mode: GPSA (d'Ascoli et al. 2021) over the same heads.

    `switch_to_attention` sets the positional scores of head `h` to `-alpha ||delta - Delta_h||^2` with a large
    `alpha`, so each head attends to the in-grid key nearest to `q + Delta_h` (which is replicate padding), and
    gives content attention no weight: the block then computes the same function (Cordonnier et al. 2020 show
    attention with such scores is a convolution). How content attention enters is `config.reparameterization_switch`:

    - `"linear_gate"` (the default): head `h` mixes `A_h = s_h C_h + (1 - s_h) P_h`, content attention `C_h` with
      the weight `s_h = g theta_h`: `theta_h` the plain trainable `gating_param`, set to 0 at the switch, `g` the
      config's `reparameterization_content_gain`. The gradient of `s_h` is `<dL/dA_h, C_h - P_h>`, of order one, so
      the block leaves the convolution as soon as the loss asks for it (as Transformed CNNs, d'Ascoli et al. 2021,
      learn from a functionally identical conversion), at `g` times the pace Adam gives the other weights.
    - `"saturated_gate"` (the first design, kept to compare switches): ConViT's `A_h = (1 - sigmoid(lambda_h)) C_h +
      sigmoid(lambda_h) P_h` with `lambda_h = reparameterization_gate` (10): content attention enters with weight
      4.5e-5 and its gradients are scaled by the same factor, so a switched block stays a convolution in practice.
    The mode lives in the persistent buffer `attention_mode` (saved with the weights, restored by
    `load_state_dict` when `Trainer` resumes) and in `config.attention_layers`.
    """

    def __init__(self, config: PreTrainedConfig, layer_index: int) -> None:
        super().__init__(config)
        self.config = config
        self.layer_index = layer_index
        self.kernel_size = config.kernel_size
        self.offsets = [(int(dx), int(dy)) for dx, dy in kernel_offsets(self.num_heads)]
        self.shift_index_cache: dict[tuple, torch.Tensor] = {}
        self.is_attention = layer_index in config.attention_layers
        self.register_buffer("attention_mode", torch.tensor(self.is_attention))
        self.register_load_state_dict_post_hook(ReparameterizableConvAttention.mode_loaded)

    @staticmethod
    def mode_loaded(module: "ReparameterizableConvAttention", incompatible_keys: object) -> None:
        module.set_mode(bool(module.attention_mode))

    def set_mode(self, attention: bool) -> None:
        self.is_attention = attention
        self.attention_mode.fill_(attention)
        layers = set(self.config.attention_layers)
        layers = layers | {self.layer_index} if attention else layers - {self.layer_index}
        self.config.attention_layers = sorted(layers)

    @property
    def mode(self) -> str:
        return ATTENTION if self.is_attention else CONVOLUTION

    @property
    def has_linear_gate(self) -> bool:
        return self.config.reparameterization_switch == "linear_gate"

    def positional_gate(self) -> torch.Tensor:
        """`1 - s_h` with the linear gate (`s_h = g * gating_param`), else GPSA's sigmoid."""
        if self.has_linear_gate:
            return 1.0 - self.config.reparameterization_content_gain * self.gating_param
        return super().positional_gate()

    @torch.no_grad()
    def reset_positional_attention(self) -> None:
        """Positional scores and gate of a freshly switched block: each head attends to its kernel tap, content
        attention has no weight."""
        init.copy_(self.pos_proj.weight, self.local_position_weight(self.config.reparameterization_locality_strength))
        init.zeros_(self.pos_proj.bias)
        init.constant_(self.gating_param, 0.0 if self.has_linear_gate else self.config.reparameterization_gate)

    @torch.no_grad()
    def switch_to_attention(self) -> None:
        if self.is_attention:
            return
        for tensor in (self.pos_proj.weight, self.pos_proj.bias, self.gating_param):
            tensor._is_hf_initialized = False  # let the init functions write them again
        self.reset_positional_attention()
        self.set_mode(True)

    def shift_index(self, grid_size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """`(N, heads)` index of the token head `h` reads at each query: `q + Delta_h`, clamped to the grid."""
        # An index built under `torch.inference_mode()` is an inference tensor, which autograd refuses to save for
        # backward: such calls get their own cache entry, so evaluating a model never breaks its training.
        key = (grid_size, device, torch.is_inference_mode_enabled())
        if key not in self.shift_index_cache:
            rows, cols = torch.meshgrid(
                torch.arange(grid_size[0], device=device), torch.arange(grid_size[1], device=device), indexing="ij"
            )
            columns = [
                ((rows + dy).clamp(0, grid_size[0] - 1) * grid_size[1] + (cols + dx).clamp(0, grid_size[1] - 1))
                for dx, dy in self.offsets
            ]
            self.shift_index_cache[key] = torch.stack([column.reshape(-1) for column in columns], dim=1)
        return self.shift_index_cache[key]

    def convolution_attention(self, grid_size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """The `(1, heads, N, N)` one-hot attention that convolution mode computes (for `output_attentions`)."""
        index = self.shift_index(grid_size, device)
        return F.one_hot(index.t(), grid_size[0] * grid_size[1]).unsqueeze(0).float()

    def forward(
        self, hidden_states: torch.Tensor, grid_size: tuple[int, int], output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.is_attention:
            return super().forward(hidden_states, grid_size, output_attentions)
        batch_size, seq_len, channels = hidden_states.shape
        if seq_len != grid_size[0] * grid_size[1]:
            raise ValueError(f"convolution mode works on the {grid_size} patch grid only, got {seq_len} tokens")
        # One gather moves every head's values by its offset: cost O(N C), the same as a shift.
        value = self.v(hidden_states).reshape(batch_size, seq_len, self.num_heads, self.head_dim)
        index = self.shift_index(grid_size, hidden_states.device)
        index = index.view(1, seq_len, self.num_heads, 1).expand(batch_size, -1, -1, self.head_dim)
        output = self.proj(torch.gather(value, 1, index).reshape(batch_size, seq_len, channels))
        attention = None
        if output_attentions:
            attention = self.convolution_attention(grid_size, hidden_states.device).to(output.dtype)
            attention = attention.expand(batch_size, -1, -1, -1)
        return output, attention
