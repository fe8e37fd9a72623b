"""Self-supervised objectives as heads on any zoo backbone: masked image modeling (Cazenavette & Lucey 2021),
SimCLR and DINO; and knowledge distillation's loss (a frozen teacher's predictions as targets).

The masked-image-modeling models are the variants' `...ForMaskedImageModeling` classes; `SimCLRModel` and
`DINOModel` are `Trainer`-ready models that take the config of any variant.
"""

from ..models.masked_image_modeling import MaskGenerator, masked_reconstruction_loss, reconstructed_image
from .contrastive import ProjectionHead, nt_xent_loss
from .distillation import DISTILLATION_KINDS, DistillationLoss
from .joint_embedding import SELF_SUPERVISED_MODELS, DINOModel, JointEmbeddingOutput, SimCLRModel
from .self_distillation import DINOHead, DINOLoss, teacher_momentum, teacher_temperature

__all__ = [
    "DISTILLATION_KINDS",
    "SELF_SUPERVISED_MODELS",
    "DINOHead",
    "DINOLoss",
    "DINOModel",
    "DistillationLoss",
    "JointEmbeddingOutput",
    "MaskGenerator",
    "ProjectionHead",
    "SimCLRModel",
    "masked_reconstruction_loss",
    "nt_xent_loss",
    "reconstructed_image",
    "teacher_momentum",
    "teacher_temperature",
]
