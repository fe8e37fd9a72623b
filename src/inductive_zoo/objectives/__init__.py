"""Self-supervised objectives as heads on any zoo backbone: masked image modeling (Cazenavette & Lucey 2021),
SimCLR and DINO; and knowledge distillation's loss (a frozen teacher's predictions as targets).

The masked-image-modeling models are the variants' `...ForMaskedImageModeling` classes; `simclr_model_class` and
`dino_model_class` build the `Trainer`-ready `{Variant}ForSimCLR` / `{Variant}ForDINO` models of a config class.
"""

from ..models.masked_image_modeling import MaskGenerator, masked_reconstruction_loss, reconstructed_image
from .contrastive import ProjectionHead, nt_xent_loss
from .distillation import DISTILLATION_KINDS, DistillationLoss
from .joint_embedding import DINOModel, JointEmbeddingOutput, SimCLRModel, dino_model_class, simclr_model_class
from .self_distillation import DINOHead, DINOLoss, teacher_momentum, teacher_temperature

__all__ = [
    "DISTILLATION_KINDS",
    "DINOHead",
    "DINOLoss",
    "DINOModel",
    "DistillationLoss",
    "JointEmbeddingOutput",
    "MaskGenerator",
    "ProjectionHead",
    "SimCLRModel",
    "dino_model_class",
    "masked_reconstruction_loss",
    "nt_xent_loss",
    "reconstructed_image",
    "simclr_model_class",
    "teacher_momentum",
    "teacher_temperature",
]
