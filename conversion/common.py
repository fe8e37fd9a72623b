"""Helpers shared by the converters of reference checkpoints (`convit`, `ibit`, `vit`) and the conversion scripts
(`conversion/convert_*.py`): opening checkpoints, stripping wrapper prefixes, checking label arguments, building
configs, reading state dicts, loading converted weights and saving the converted model."""

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForImageClassification, PreTrainedConfig, PreTrainedModel

# Prefixes that wrappers put before every key: DistributedDataParallel (`module.`) and others (`model.`).
WRAPPER_PREFIXES = ("module.", "model.")
# Entries of a training checkpoint holding the model's state dict, in order of preference (DeiT/ConViT's `main.py`).
CHECKPOINT_ENTRIES = ("model", "state_dict", "model_ema")
# Largest absolute logit difference that `save_converted(..., check=True)` accepts after reloading.
RELOAD_TOLERANCE = 1e-5

ConfigT = TypeVar("ConfigT", bound=PreTrainedConfig)
ModelT = TypeVar("ModelT", bound=PreTrainedModel)


def square_side(value: int | tuple[int, ...] | list[int], name: str, model: str, target: str) -> int:
    """The side of a square given as one int or as an equal `(height, width)` pair (its first element, as it is).

    `model` names the converted model and `target` what cannot represent anything else, in the error message.

    Raises:
        ValueError: `value` is a pair of different sides, or not a pair.
    """
    if isinstance(value, int):
        return value
    sides = tuple(value)
    if len(sides) != 2 or sides[0] != sides[1]:
        raise ValueError(f"cannot convert a {model} with {name}={value!r}: {target} supports only square {name}s")
    return sides[0]


def set_num_labels(config_kwargs: dict[str, Any], num_classes: int) -> None:
    """Sets `num_labels=num_classes` in `config_kwargs`, unless they hold an `id2label`, which must have
    `num_classes` entries.

    Raises:
        ValueError: `id2label` has another number of labels than `num_classes`.
    """
    if "id2label" in config_kwargs:
        if len(config_kwargs["id2label"]) != num_classes:
            raise ValueError(f"id2label has {len(config_kwargs['id2label'])} labels but num_classes={num_classes}")
    else:
        config_kwargs["num_labels"] = num_classes


def build_config(config_class: type[ConfigT], what: str, **fields: Any) -> ConfigT:
    """`config_class(**fields)`, with a `ValueError` of the config reworded as `cannot convert this {what}: ...`.

    Raises:
        ValueError: the config rejects a field.
    """
    try:
        return config_class(**fields)
    except ValueError as error:
        raise ValueError(f"cannot convert this {what}: {error}") from error


def unwrap_checkpoint(checkpoint: Mapping[str, Any]) -> Mapping[str, torch.Tensor]:
    """The model state dict in a loaded checkpoint: the checkpoint itself when it maps names to tensors, else its
    first entry of `CHECKPOINT_ENTRIES` (`{"model": ..., "optimizer": ...}` as saved by the reference `main.py`).

    Raises:
        ValueError: neither a state dict nor a checkpoint holding one.
    """
    if isinstance(checkpoint, Mapping) and all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        return checkpoint
    if isinstance(checkpoint, Mapping):
        for entry in CHECKPOINT_ENTRIES:
            if isinstance(checkpoint.get(entry), Mapping):
                return unwrap_checkpoint(checkpoint[entry])
        raise ValueError(
            f"this checkpoint is not a state dict and has none of the entries {CHECKPOINT_ENTRIES}: "
            f"its keys are {sorted(map(str, checkpoint))[:20]}"
        )
    raise ValueError(f"expected a state dict or a checkpoint dict, got {type(checkpoint).__name__}")


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Removes `module.` / `model.` prefixes (repeatedly, as `module.model.`) when every key carries them."""
    state_dict = dict(state_dict)
    while state_dict:
        prefix = next((p for p in WRAPPER_PREFIXES if all(key.startswith(p) for key in state_dict)), None)
        if prefix is None:
            break
        state_dict = {key.removeprefix(prefix): tensor for key, tensor in state_dict.items()}
    return state_dict


def reference_weights(
    reference: nn.Module | Mapping[str, torch.Tensor], module_hyperparameters: Callable[[nn.Module], dict[str, Any]]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict of a reference model and the hyperparameters its module tells beyond its weights:
    `(reference.state_dict(), module_hyperparameters(reference))` for a module, `(reference with its wrapper
    prefixes stripped, {})` for a state dict."""
    if isinstance(reference, nn.Module):
        return reference.state_dict(), module_hyperparameters(reference)
    return strip_wrapper_prefixes(reference), {}


def required_tensor(state_dict: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    """`state_dict[key]`.

    Raises:
        ValueError: the state dict (of a `what`) lacks `key`.
    """
    if key not in state_dict:
        raise ValueError(f"this {what} state dict lacks {key!r}")
    return state_dict[key]


def block_depth(state_dict: Mapping[str, torch.Tensor], block_key: re.Pattern[str], what: str) -> int:
    """The number of blocks in a state dict, whose keys `block_key` matches with an `index` group.

    Raises:
        ValueError: no block, or missing blocks between 0 and the last one (in the state dict of a `what`).
    """
    blocks = {int(match["index"]) for key in state_dict if (match := block_key.fullmatch(key))}
    depth = max(blocks) + 1 if blocks else 0
    if depth == 0 or blocks != set(range(depth)):
        raise ValueError(f"this {what} state dict must hold blocks 0 to depth - 1, got blocks {sorted(blocks)}")
    return depth


def load_converted_weights(
    model: ModelT,
    state_dict: Mapping[str, torch.Tensor],
    convert: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]],
    what: str,
    errors: tuple[type[Exception], ...] = (RuntimeError,),
) -> ModelT:
    """Loads `convert(state_dict)` into `model` with `strict=True` and returns the model in eval mode and in the
    dtype of the state dict's floating-point tensors (float32 when they have several).

    Raises:
        ValueError: converting or loading raised one of `errors`: the `what` weights do not fit the model's config.
    """
    try:
        model.load_state_dict(convert(state_dict), strict=True)
    except errors as error:
        raise ValueError(
            f"the {what} weights do not fit the hyperparameters {model.config.to_diff_dict()}: {error}"
        ) from error
    dtypes = {tensor.dtype for tensor in state_dict.values() if tensor.is_floating_point()}
    return model.to(dtypes.pop() if len(dtypes) == 1 else torch.float32).eval()


def load_checkpoint_file(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict in a local `.safetensors` file or a `torch.save`d one (`.pt`, `.pth`, ...; read with
    `weights_only=True`), opened with `unwrap_checkpoint`.

    Raises:
        SystemExit: there is no file at `path`.
        ValueError: the file holds neither a state dict nor a checkpoint holding one.
    """
    if not path.is_file():
        raise SystemExit(f"no checkpoint file at {path}")
    if path.suffix == ".safetensors":
        checkpoint = load_file(str(path))
    else:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return dict(unwrap_checkpoint(checkpoint))


def print_conversion_summary(model: PreTrainedModel, details: str) -> None:
    """Prints what a converted model is: its class, image size, patch size, width, `details` and dtype."""
    config = model.config
    print(
        f"converted to {type(model).__name__}: image {config.image_size}, patch {config.patch_size}, width "
        f"{config.hidden_size}, {details}, dtype {model.dtype}"
    )


def save_converted(model: PreTrainedModel, output_dir: Path, check: bool) -> None:
    """Saves a converted image classifier with `save_pretrained` and the zoo's image processor for its image size
    (ImageNet statistics; left out, with a note, when there is none) to `output_dir`. With `check`, reloads it
    through `AutoModelForImageClassification` and prints the largest absolute logit difference on a random batch.

    Raises:
        SystemExit: with `check`, the reloaded model differs by more than `RELOAD_TOLERANCE`.
    """
    from inductive_zoo.data import image_processor_for  # here: `inductive_zoo.data` imports `datasets`, slow to import

    config = model.config
    model.save_pretrained(output_dir)
    try:
        image_processor_for(config.image_size, config.num_channels).save_pretrained(output_dir)
        saved = "model and image processor"
    except ValueError as error:
        saved = f"model (no image processor: {error})"
    print(f"saved the {saved} to {output_dir}")

    if check:
        generator = torch.Generator().manual_seed(0)
        size = (2, config.num_channels, config.image_size, config.image_size)
        pixel_values = torch.randn(size, generator=generator).to(model.dtype)
        reloaded = AutoModelForImageClassification.from_pretrained(output_dir).eval()
        with torch.no_grad():
            difference = (model(pixel_values).logits - reloaded(pixel_values).logits).abs().max().item()
        print(f"reloaded {type(reloaded).__name__}: max abs logit difference {difference:.3e}")
        if not difference <= RELOAD_TOLERANCE:
            raise SystemExit(f"the reloaded model differs from the converted one by {difference:.3e}")
