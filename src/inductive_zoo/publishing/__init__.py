"""Publishing to the Hub: model cards from the top-level `model_cards/`, `publish` (config, weights, processor, card,
optional remote code or a transformers-native ViT export), `convert` (third-party checkpoints to ready-to-publish
folders) and `release` (train, evaluate and publish every variant; `inductive_zoo.publishing.release`)."""

from ..training.records import MissingEvaluationError, TrainingSummary, read_evaluation_metrics
from .cards import CardInputs, render_model_card
from .native import NotTransformersNativeError, export_as_vit
from .publish import PublishError, PublishResult, publish, stage_repository
from .remote_code import add_remote_code, remote_code, write_remote_code

__all__ = [
    "CardInputs",
    "MissingEvaluationError",
    "NotTransformersNativeError",
    "PublishError",
    "PublishResult",
    "TrainingSummary",
    "add_remote_code",
    "export_as_vit",
    "publish",
    "read_evaluation_metrics",
    "remote_code",
    "render_model_card",
    "stage_repository",
    "write_remote_code",
]
