"""`from_pretrained` that refuses what `PreTrainedModel` only warns about: the zoo's loading rules in one place."""

import copy
import os
from typing import Any

from safetensors import SafetensorError
from transformers import PreTrainedConfig, PreTrainedModel

# Backbone parameters that exist only for an objective (the masked-image-modeling mask token) and that a checkpoint
# of another task therefore legitimately lacks.
OBJECTIVE_ONLY_BACKBONE_KEYS = ("mask_token",)
# Config fields a trained checkpoint can take a new value of when it is loaded (`from_pretrained(path, field=...)`):
# they change no weight's shape or meaning; the image size through `set_image_size`.
FIELDS_A_CHECKPOINT_CAN_CHANGE = (
    "image_size", "hidden_dropout_prob", "attention_probs_dropout_prob", "drop_path_rate",
)  # fmt: skip
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
    - raises `OSError` naming the checkpoint when its weights file is truncated or corrupt (safetensors' own error
      names no file);
    - raises `CheckpointMismatchError` (instead of transformers' `RuntimeError`) on weights of another shape;
      `ignore_mismatched_sizes=True` re-initialises them, e.g. a classifier for another number of labels, and
      also allows missing backbone weights;
    - loads a checkpoint at another image size without losing what it learned: with `image_size=S` (or a `config`
      whose `image_size` differs from the checkpoint's, as `AutoModel...from_pretrained(path, image_size=S)`
      passes), the model is built and loaded at the checkpoint's size, then moved to `S` by `set_image_size`
      (position embeddings resampled, ...; `models.image_size`), where transformers would re-initialise the
      weights whose shape depends on the size.
    """

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args: Any, **kwargs: Any
    ) -> PreTrainedModel:
        if kwargs.get("use_safetensors") is None:
            kwargs["use_safetensors"] = True
        wants_loading_info = kwargs.pop("output_loading_info", False)
        saved_config = checkpoint_config_dict(pretrained_model_name_or_path, kwargs)
        config = kwargs.get("config")
        saved_type = config.model_type if isinstance(config, PreTrainedConfig) else saved_config.get("model_type")
        image_size = requested_image_size(saved_config, kwargs)
        if image_size is not None and not hasattr(cls, "set_image_size"):
            raise ValueError(f"{cls.__name__} cannot change its image size; load it without image_size")
        # None for a class that serves every variant (SimCLRModel, DINOModel): it checks the config when built.
        expected_type = getattr(cls.config_class, "model_type", None)
        if saved_type is not None and expected_type is not None and saved_type != expected_type:
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
        except SafetensorError as error:
            raise OSError(
                f"{pretrained_model_name_or_path}: its weights file (model.safetensors) cannot be read: {error}. The "
                "file is truncated or corrupt (an interrupted download or save?); download or save it again"
            ) from error
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
        if image_size is not None:
            model.set_image_size(image_size)
        return (model, loading_info) if wants_loading_info else model


def checkpoint_config_dict(pretrained_model_name_or_path: str | os.PathLike | None, kwargs: dict) -> dict[str, Any]:
    """The config a checkpoint was saved with, as a dict (empty without a checkpoint); a `config` given by name or
    path is read instead."""
    config = kwargs.get("config")
    source = config if isinstance(config, (str, os.PathLike)) else pretrained_model_name_or_path
    if source is None:
        return {}
    hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if key in kwargs}
    config_dict, _ = PreTrainedConfig.get_config_dict(source, **hub_kwargs)
    return config_dict


def requested_image_size(saved_config: dict[str, Any], kwargs: dict) -> int | None:
    """The image size `from_pretrained` is asked for when it differs from the checkpoint's: an `image_size`
    keyword, else the `image_size` of a `config` object. `kwargs` is rewritten to load at the checkpoint's size
    (the keyword removed, the config copied with the saved size); `None` when there is nothing to change."""
    saved_size = saved_config.get("image_size")
    if saved_size is None:
        return None
    requested = kwargs.pop("image_size", None)
    config = kwargs.get("config")
    if isinstance(config, PreTrainedConfig) and getattr(config, "image_size", saved_size) != saved_size:
        requested = requested or config.image_size
        config = copy.deepcopy(config)
        config.image_size = saved_size
        kwargs["config"] = config
    return None if requested in (None, saved_size) else requested


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
