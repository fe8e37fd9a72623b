"""`from_pretrained` that refuses what `PreTrainedModel` only warns about: the zoo's loading rules in one place."""

import os
from typing import Any

from transformers import PreTrainedConfig, PreTrainedModel

# Backbone parameters that exist only for an objective (the masked-image-modeling mask token) and that a checkpoint
# of another task therefore legitimately lacks.
OBJECTIVE_ONLY_BACKBONE_KEYS = ("mask_token",)
# `from_pretrained` arguments that say where and how to fetch the checkpoint's config.
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "subfolder")


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model class it is loaded into (another variant, or missing backbone weights)."""


class SafeLoadingMixin:
    """Mixed into the zoo's `PreTrainedModel` base classes, before `PreTrainedModel`. `from_pretrained`:

    - loads safetensors only by default (`use_safetensors=True`): a directory or Hub repository with only a pickled
      `pytorch_model.bin` raises `OSError` instead of running `torch.load` on it; pass `use_safetensors=False` to
      load a pickle you trust;
    - raises `CheckpointMismatchError` when the checkpoint's `model_type` is not the class's (transformers only logs
      a warning, then silently re-initialises whatever does not match, e.g. an IsoTransformer loaded as an IsoMixer);
    - raises `CheckpointMismatchError` when backbone weights are missing from the checkpoint (they would be freshly
      initialised); a new head (classifier, decoder) or the mask token is normal when changing task and allowed;
    - raises `CheckpointMismatchError` (instead of transformers' `RuntimeError`) on weights of another shape;
      `ignore_mismatched_sizes=True` re-initialises them, e.g. a classifier for another number of labels, and
      also allows missing backbone weights.
    """

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args: Any, **kwargs: Any
    ) -> PreTrainedModel:
        if kwargs.get("use_safetensors") is None:
            kwargs["use_safetensors"] = True
        wants_loading_info = kwargs.pop("output_loading_info", False)
        saved_type = checkpoint_model_type(pretrained_model_name_or_path, kwargs)
        expected_type = cls.config_class.model_type
        if saved_type is not None and saved_type != expected_type:
            raise CheckpointMismatchError(
                f"{pretrained_model_name_or_path} is a checkpoint of model_type {saved_type!r}, not "
                f"{expected_type!r}: load it with its own class or with AutoModelForImageClassification"
            )
        try:
            model, loading_info = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
            )
        except OSError as error:
            if kwargs["use_safetensors"] and "safetensors" in str(error):
                raise OSError(
                    f"{pretrained_model_name_or_path} has no safetensors weights (model.safetensors); pickled "
                    "checkpoints (pytorch_model.bin) are refused by default because loading one can run arbitrary "
                    "code: pass use_safetensors=False only for a file you trust, or convert it to safetensors. "
                    f"Original error: {error}"
                ) from error
            raise
        except RuntimeError as error:
            if "ignore_mismatched_sizes" not in str(error):
                raise
            raise CheckpointMismatchError(
                f"{pretrained_model_name_or_path} has weights of other shapes than {cls.__name__} built from its "
                "configuration (another width, depth, image size or number of labels?); transformers logs the "
                "mismatched keys above. Pass ignore_mismatched_sizes=True to re-initialise those weights, e.g. a "
                "classifier for another number of labels"
            ) from error
        if not kwargs.get("ignore_mismatched_sizes", False):
            missing = backbone_keys(model, loading_info["missing_keys"])
            if missing:
                shown = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
                raise CheckpointMismatchError(
                    f"{pretrained_model_name_or_path} lacks {len(missing)} backbone weights of {cls.__name__} "
                    f"({shown}); they would be randomly initialised. Is it a checkpoint of this variant with the "
                    "same configuration? Pass ignore_mismatched_sizes=True to initialise them anyway"
                )
        return (model, loading_info) if wants_loading_info else model


def checkpoint_model_type(pretrained_model_name_or_path: str | os.PathLike | None, kwargs: dict) -> str | None:
    """The `model_type` of the config `from_pretrained` will use: the `config` passed, else the checkpoint's."""
    config = kwargs.get("config")
    if isinstance(config, PreTrainedConfig):
        return config.model_type
    if pretrained_model_name_or_path is None:
        return None
    hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
    config_dict, _ = PreTrainedConfig.get_config_dict(config or pretrained_model_name_or_path, **hub_kwargs)
    return config_dict.get("model_type")


def backbone_keys(model: PreTrainedModel, keys: list[str] | set[str]) -> list[str]:
    """The keys of `keys` that name backbone weights of `model` (all of them if `model` is a backbone), less the
    objective-only ones."""
    prefix = f"{model.base_model_prefix}."
    is_backbone = model.base_model is model
    return [
        key
        for key in keys
        if (is_backbone or key.startswith(prefix)) and not any(part in key for part in OBJECTIVE_ONLY_BACKBONE_KEYS)
    ]
