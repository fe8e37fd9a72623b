"""`--config_overrides`: config fields given on the command line as `field=value,...`, and the fields in which two
configs of one model differ, written the same way."""

import dataclasses
import difflib
import json
import shlex
from typing import Any

from transformers import PreTrainedConfig

from ..models.loading import FIELDS_A_CHECKPOINT_CAN_CHANGE

# Config fields that training itself changes (which PRS-ViT blocks have switched to attention).
TRAINING_STATE_FIELDS = frozenset({"attention_layers"})


def override_value(value: Any) -> str:
    """A config value as `--config_overrides` reads it back: strings as they are, the rest as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def overrides_text(fields: dict[str, Any]) -> str:
    """Config fields as `--config_overrides` takes them: `{"a": 1, "b": "x"}` -> `"a=1,b=x"`."""
    return ",".join(f"{name}={override_value(value)}" for name, value in fields.items())


def split_top_level(text: str) -> list[str]:
    """`text` split at the commas that are not inside brackets: `"a=[1,2],b=3"` -> `["a=[1,2]", "b=3"]`."""
    parts, depth, current = [], 0, []
    for character in text:
        depth += {"[": 1, "(": 1, "{": 1, "]": -1, ")": -1, "}": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def parse_overrides(text: str | None) -> dict[str, Any]:
    """`"a=1,b=mean,c=true,d=[2,2]"` -> `{"a": 1, "b": "mean", "c": True, "d": [2, 2]}` (values parsed as JSON
    where they can be)."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in split_top_level(text or ""))):
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"config override {item!r} is not of the form field=value")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def check_override_fields(config_class: type[PreTrainedConfig], overrides: dict[str, Any]) -> None:
    """Refuses a field `config_class` does not have (transformers' configs would store it as a new attribute and
    go on with the default).

    Raises:
        ValueError: naming the unknown field and the closest valid one.
    """
    valid = sorted(field.name for field in dataclasses.fields(config_class))
    for name in overrides:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; its fields: {valid}"
            raise ValueError(f"--config_overrides: {config_class.__name__} has no field {name!r}{hint}")


def checkpoint_changes(config: PreTrainedConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides that change a trained checkpoint's `config`: those of `FIELDS_A_CHECKPOINT_CAN_CHANGE` whose
    value differs (an override equal to the checkpoint's value changes nothing and is accepted).

    Raises:
        ValueError: a field the config does not have (with the closest name), or one a trained checkpoint cannot
            change (its width, depth, patch size, ...: they set the weights' shapes or meaning).
    """
    check_override_fields(type(config), overrides)
    changes = {name: value for name, value in overrides.items() if getattr(config, name) != value}
    fixed = sorted(set(changes) - set(FIELDS_A_CHECKPOINT_CAN_CHANGE))
    if fixed:
        can_change = [name for name in FIELDS_A_CHECKPOINT_CAN_CHANGE if hasattr(config, name)]
        raise ValueError(
            f"--config_overrides: a trained checkpoint cannot change {fixed} (they set the shapes or meaning of its "
            f"weights); what can change when fine-tuning: {can_change}. To change the others, train a fresh model "
            "(--model_type and --preset, without --model_name_or_path)"
        )
    return changes


def model_field_differences(reference: PreTrainedConfig, other: PreTrainedConfig) -> list[str]:
    """The fields, as `field=value` of `other`, in which two configs of one class differ: the model class's own
    dataclass fields (not `PreTrainedConfig`'s: labels, dtype, ...), except those training changes
    (`TRAINING_STATE_FIELDS`) and those that do nothing given the others (a config's `inactive_fields()`, such as
    the gain of a PRS-ViT gate that is not in use).

    Raises:
        ValueError: the configs are of different classes.
    """
    if type(reference) is not type(other):
        raise ValueError(f"configs of different models: {type(reference).__name__} and {type(other).__name__}")
    ignored = {field.name for field in dataclasses.fields(PreTrainedConfig)} | TRAINING_STATE_FIELDS
    ignored |= set().union(*(getattr(config, "inactive_fields", set)() for config in (reference, other)))
    names = {field.name for field in dataclasses.fields(type(reference))} - ignored
    return [
        f"{name}={override_value(getattr(other, name))}"
        for name in sorted(names)
        if getattr(reference, name) != getattr(other, name)
    ]


def overrides_argument(differences: list[str]) -> str:
    """`--config_overrides F=V,...` for these differences, quoted for a shell."""
    return f"--config_overrides {shlex.quote(','.join(differences))}"
