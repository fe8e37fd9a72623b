"""`--config_overrides`: config fields given on the command line as `field=value,...`."""

import json
from typing import Any


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
