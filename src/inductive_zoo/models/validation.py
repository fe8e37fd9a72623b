"""Type and range checks shared by every config of the zoo, so that a bad value fails on construction."""

import dataclasses
import math
from typing import Any, TypeVar

from huggingface_hub.dataclasses import strict
from huggingface_hub.errors import StrictDataclassFieldValidationError
from transformers.activations import ACT2FN

T = TypeVar("T")

# Fields that must be strictly positive floats when present.
POSITIVE_FLOAT_FIELDS = ("layer_norm_eps", "initializer_range")


class ConfigFieldError(ValueError):
    """A config field has a value of the wrong type: names the config class and the field. A `ValueError`, as every
    other bad config value, where `@strict`'s own exception is not one."""

    def __init__(self, config_class: str, field: str, cause: BaseException | None) -> None:
        super().__init__(f"{config_class}.{field}: {cause}")
        self.field = field


def typed_config(config_class: type[T]) -> type[T]:
    """transformers 5's typed config for one of the zoo's config classes: `huggingface_hub`'s `@strict` checks every
    declared field against its annotation when the config is built and whenever a field is set (an `int` field
    refuses a bool, a string or a float; `float | int` fields take either), and its error is raised again as a
    `ConfigFieldError` (a `ValueError` naming the field). Decorate every config class, subclasses too: `@strict`
    checks the fields the decorated class declares, its parents' included."""
    config_class = strict(config_class)
    checked_setattr = config_class.__setattr__

    def setattr_raising_value_errors(self: Any, name: str, value: Any) -> None:
        try:
            checked_setattr(self, name, value)
        except StrictDataclassFieldValidationError as error:
            raise ConfigFieldError(type(self).__name__, name, error.__cause__) from error

    config_class.__setattr__ = setattr_raising_value_errors
    return config_class


def check_field_values(config: Any) -> None:
    """The checks `@strict` (`typed_config`) leaves to the config: raises `ValueError` naming the field for a
    NaN or infinite number, a non-positive `layer_norm_eps` or `initializer_range`, or a `hidden_act` that is not an
    activation of `transformers.activations.ACT2FN`. Config classes call it first in `__post_init__`, so that their
    range checks compare finite numbers only."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name, None)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{field.name} must be a finite number, got {value!r}")
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
