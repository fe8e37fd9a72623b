"""Type and range checks shared by every config of the zoo, so that a bad value fails on construction."""

import math
import types
import typing
from typing import Any

from transformers import PreTrainedConfig
from transformers.activations import ACT2FN

# Fields that must be strictly positive floats when present.
POSITIVE_FLOAT_FIELDS = ("layer_norm_eps", "initializer_range")


def declared_fields(config_class: type) -> dict[str, Any]:
    """The annotated fields that the package's config classes declare (not transformers' own), by name. Classes are
    told apart by ancestry, not module name, so the check also runs in the flat remote-code copy on the Hub."""
    fields: dict[str, Any] = {}
    for klass in reversed(config_class.__mro__):
        if klass in PreTrainedConfig.__mro__:
            continue
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if typing.get_origin(annotation) is not typing.ClassVar:
                fields[name] = annotation
    return fields


def accepts(annotation: Any, value: Any) -> bool:
    """Whether `value` has the declared type: `bool` only for `bool`, ints for `int`, finite ints or floats for
    `float` (bools pass as numbers, which they are in Python: the range checks of the config classes refuse them
    with their own messages), `None` only where the annotation allows it; list fields are left to their config
    class."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(accepts(option, value) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int)
    if annotation is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    if typing.get_origin(annotation) in (list, tuple):
        return True  # lists (depths, attention_layers) are checked element by element by their config class
    return isinstance(value, annotation) if isinstance(annotation, type) else True


def check_field_types(config: Any) -> None:
    """Raises `ValueError` naming the field if a declared field has a value of another type (a string where a
    number is expected, a NaN, `"false"` for a boolean), a non-positive `layer_norm_eps` or `initializer_range`, or
    a `hidden_act` that is not an activation of `transformers.activations.ACT2FN`. Config classes call it first in
    `__post_init__`, so that their range checks compare numbers only."""
    for name, annotation in declared_fields(type(config)).items():
        value = getattr(config, name, None)
        if not accepts(annotation, value):
            kind = "a bool" if annotation is bool else f"of type {annotation}"
            raise ValueError(f"{name} must be {kind}, got {value!r}")
    for name in POSITIVE_FLOAT_FIELDS:
        if hasattr(config, name) and not getattr(config, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)!r}")
    if hasattr(config, "hidden_act") and config.hidden_act not in ACT2FN:
        raise ValueError(f"hidden_act must be one of {sorted(ACT2FN)}, got {config.hidden_act!r}")


def is_positive_int(value: Any) -> bool:
    """An `int` (not a `bool`) of at least 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_positive_ints(config: Any, *names: str) -> None:
    """Raises `ValueError` naming the first of the fields that is not a positive integer (a bool is not one)."""
    for name in names:
        if not is_positive_int(getattr(config, name)):
            raise ValueError(f"{name} must be a positive integer, got {getattr(config, name)!r}")


def check_positive_odd_int(config: Any, name: str) -> None:
    """Raises `ValueError` naming the field unless it is a positive odd integer (a window centred on its position)."""
    value = getattr(config, name)
    if not is_positive_int(value) or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {value!r}")


def check_positive(config: Any, *names: str) -> None:
    """Raises `ValueError` naming the first of the fields that is not a positive number."""
    for name in names:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)!r}")


def check_rates(config: Any, *names: str) -> None:
    """Raises `ValueError` naming the first of the fields (dropout, stochastic depth) outside `[0, 1)`."""
    for name in names:
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(config, name)!r}")


def check_choices(config: Any, **choices: tuple[str, ...]) -> None:
    """Raises `ValueError` naming the first field whose value is not one of its choices."""
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {getattr(config, name)!r}")


def check_layer_count(config: Any, name: str) -> None:
    """Raises `ValueError` naming the field unless it is an integer in `[0, num_hidden_layers]` (a number of blocks
    of a kind)."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= config.num_hidden_layers:
        raise ValueError(
            f"{name} must be an integer in [0, num_hidden_layers={config.num_hidden_layers}], got {value!r}"
        )
