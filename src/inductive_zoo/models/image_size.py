"""A trained model moved to another image size for good, keeping what it learned (timm's `set_input_size`)."""

from torch import nn


class ImageSizeMixin:
    """Mixed into the zoo's `PreTrainedModel` base classes: `set_image_size`, which `from_pretrained(path,
    image_size=S)` calls after loading the checkpoint at its own size (`models.loading`)."""

    def set_image_size(self: nn.Module, image_size: int) -> None:
        """Re-targets the model to square images of side `image_size` and records it in `config.image_size` (so
        that `save_pretrained` and the image processor follow). Every submodule with a `set_grid_size(grid)` moves
        to the new patch grid: learned position embeddings are resampled bicubically, fixed ones recomputed, IBiT's
        learned masks resampled and re-fitted (see each layer); GPSA's and PRS-ViT's relative positions and the
        convolutional variants follow any grid by themselves.

        Raises:
            ValueError: the size is invalid for the config (not a positive integer, not divisible by the patch
                size, ...), or a layer cannot move (IsoMixer's token-mixing MLP); the model is then unchanged.
        """
        config = self.config
        type(config).from_dict({**config.to_dict(), "image_size": image_size})  # validates, names the field
        grid = image_size // getattr(config, "patch_size", 1)
        # Token mixers come after the embeddings in module order: in reverse, a layer that refuses (IsoMixer's MLP)
        # raises before anything has moved.
        for module in reversed(list(self.modules())):
            if module is not self and hasattr(module, "set_grid_size"):
                module.set_grid_size((grid, grid))
        config.image_size = image_size
