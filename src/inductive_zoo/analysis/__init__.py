"""Analysis tools for trained models: attention rollout."""

from .attention_rollout import attention_rollout, rollout_heatmap

__all__ = ["attention_rollout", "rollout_heatmap"]
