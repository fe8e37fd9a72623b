"""Named presets of a config class: `presets` and `from_preset(name, **overrides)`."""

from typing import Any, ClassVar, Self


class PresetMixin:
    """Gives a config class named presets: `presets` maps a name to the config's fields, and
    `from_preset(name, **overrides)` builds one. Put it before `PreTrainedConfig` among the bases."""

    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Self:
        """Builds a named preset of this config (see `presets`), with any field overridden.

        Raises:
            ValueError: `name` is not one of `presets`, or the config rejects a field.
        """
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; choose one of {sorted(cls.presets)}")
        return cls(**{**cls.presets[name], **overrides})
