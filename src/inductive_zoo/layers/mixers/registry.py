"""Token mixers by name (as timm's attention-layer registry): a mixer module registers its class with
`@register_token_mixer("name")`, and a config names the mixer of each block (`IsotropicConfig.token_mixer_names`).

Every mixer of the isotropic skeleton takes its model's config, and the block index when `per_layer=True`;
`forward(hidden_states, grid_size=..., output_attentions=...)` returns `(mixed, attention_or_None)`
(`layers.block.ResidualBlock`). CADA-ResNet builds its `cada` mixers per bottleneck from channel counts instead.
"""

from collections.abc import Callable

from torch import nn
from transformers import PreTrainedConfig

TOKEN_MIXERS: dict[str, type[nn.Module]] = {}
# Names of the mixers whose constructor also takes the block index (`cls(config, layer_index)`).
PER_LAYER_MIXERS: set[str] = set()


def register_token_mixer(name: str, *, per_layer: bool = False) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: registers a token mixer under `name` (and sets its `mixer_name`).

    Raises:
        ValueError: another class is registered under that name.
    """

    def register(cls: type[nn.Module]) -> type[nn.Module]:
        registered = TOKEN_MIXERS.get(name)
        # The same class defined again (a module reloaded) replaces itself; another class may not take the name.
        same = registered is not None and (registered.__module__, registered.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if registered is not None and registered is not cls and not same:
            raise ValueError(f"token mixer {name!r} is already registered by {registered.__qualname__}")
        TOKEN_MIXERS[name] = cls
        if per_layer:
            PER_LAYER_MIXERS.add(name)
        cls.mixer_name = name
        return cls

    return register


def token_mixer_class(name: str) -> type[nn.Module]:
    """The class registered under `name`.

    Raises:
        ValueError: no mixer has that name (the message lists the registered ones).
    """
    if name not in TOKEN_MIXERS:
        raise ValueError(f"unknown token mixer {name!r}; registered: {sorted(TOKEN_MIXERS)}")
    return TOKEN_MIXERS[name]


def create_token_mixer(name: str, config: PreTrainedConfig, layer_index: int) -> nn.Module:
    """Builds the mixer `name` for block `layer_index` of a model with `config`."""
    cls = token_mixer_class(name)
    return cls(config, layer_index) if name in PER_LAYER_MIXERS else cls(config)
