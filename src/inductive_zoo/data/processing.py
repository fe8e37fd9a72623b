"""The image processor every variant saves: transformers' ViT processor, reused, converting any mode to RGB."""

from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

# ImageNet statistics (timm's IMAGENET_DEFAULT_MEAN/STD), used by every preset of the zoo.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_processor_for(image_size: int, num_channels: int = 3) -> ViTImageProcessorPil:
    """A `ViTImageProcessor` (saved as `preprocessor_config.json`, loadable with `AutoImageProcessor`) that
    converts grayscale, palette and RGBA images to RGB, resizes bilinearly to `image_size` and normalises with the
    ImageNet statistics. The PIL backend is used because it needs no torchvision; users with torchvision get the
    fast backend from `AutoImageProcessor` with the same settings.
    """
    if num_channels != 3:
        raise ValueError(f"the zoo's image processor produces RGB images (3 channels), got num_channels={num_channels}")
    return ViTImageProcessorPil(
        size={"height": image_size, "width": image_size},
        do_convert_rgb=True,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )
