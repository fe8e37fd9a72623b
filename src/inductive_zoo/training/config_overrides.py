"""`--config_overrides`: config fields given on the command line as `field=value,...`, and the fields in which two
configs of one model differ, written the same way."""

import dataclasses
import json
import shlex
from typing import Any

from transformers import PreTrainedConfig

from ..models.manifest import override_value

# Config fields that training itself changes (which PRS-ViT blocks have switched to attention).
TRAINING_STATE_FIELDS = frozenset({"attention_layers"})


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
