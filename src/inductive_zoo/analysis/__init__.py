"""Analysis tools for trained models: attention rollout, attention mass outside a neighbourhood, attention distance."""

from .attention_rollout import attention_rollout, rollout_heatmap
from .attention_statistics import attention_mass_outside, mean_attention_distance

__all__ = ["attention_mass_outside", "attention_rollout", "mean_attention_distance", "rollout_heatmap"]
