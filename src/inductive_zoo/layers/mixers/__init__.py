"""Every token mixer of the zoo, registered by name (`registry.TOKEN_MIXERS`); importing this package registers all.

Models import the mixer modules they use directly (so a remote-code bundle carries only those).
"""

from .attention import ATTENTION_FUNCTIONS, MultiHeadSelfAttention, attention_function
from .cada import ContextAwareDecomposedAttention
from .depthwise_conv import DepthwiseConvMixer
from .learned_masked_attention import LearnedMaskedSelfAttention
from .pooling import PoolingMixer
from .positional_attention import GatedPositionalSelfAttention, kernel_offsets, relative_position_features
from .registry import TOKEN_MIXERS, create_token_mixer, register_token_mixer, token_mixer_class
from .reparameterizable_attention import ReparameterizableConvAttention
from .token_mixing_mlp import TokenMixingMLP

__all__ = [
    "ATTENTION_FUNCTIONS",
    "TOKEN_MIXERS",
    "ContextAwareDecomposedAttention",
    "DepthwiseConvMixer",
    "GatedPositionalSelfAttention",
    "LearnedMaskedSelfAttention",
    "MultiHeadSelfAttention",
    "PoolingMixer",
    "ReparameterizableConvAttention",
    "TokenMixingMLP",
    "attention_function",
    "create_token_mixer",
    "kernel_offsets",
    "register_token_mixer",
    "relative_position_features",
    "token_mixer_class",
]
