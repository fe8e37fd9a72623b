"""Joint-embedding self-supervision on any backbone of the zoo: SimCLR (Chen et al. 2020) and DINO (Caron et al.
2021) as `PreTrainedModel`s that plain `Trainer` trains on `data.MultiViewCollator` batches.

One class per objective serves every variant: `SimCLRModel(config)` / `DINOModel(config)` wrap the zoo backbone
that the variant's manifest declares for the config's class, under `base_model_prefix = "backbone"`, so
`AutoModelForImageClassification.from_pretrained` of a saved model loads the (student) backbone and adds only the
classifier. `from_pretrained` reads the saved config with `AutoConfig` (`config_class`), which gives the variant's
own config class, so `SimCLRModel.from_pretrained(path)` rebuilds the right backbone.

Hyper-parameters are read from the backbone's config with `getattr` (a config takes extra keyword arguments and
saves them, e.g. `IsoTransformerConfig(..., simclr_temperature=0.5)`), with these defaults:

- SimCLR: `simclr_temperature` 0.2, `simclr_hidden_size` 512, `simclr_projection_size` 128 (`ProjectionHead`).
- DINO: `dino_out_features` 4096, `dino_hidden_size` 2048, `dino_bottleneck_size` 256 (`DINOHead`),
  `dino_student_temperature` 0.1, `dino_center_momentum` 0.9 (`DINOLoss`), `dino_warmup_teacher_temperature` 0.04,
  `dino_teacher_temperature` 0.07, `dino_warmup_teacher_temperature_epochs` 0 (`teacher_temperature`).
"""

import inspect
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

from ..models.loading import SafeLoadingMixin
from ..models.registry import backbone_class_for, manifest_for
from .contrastive import ProjectionHead, nt_xent_loss
from .self_distillation import DINOHead, DINOLoss, teacher_temperature


def feature_size(config: PreTrainedConfig) -> int:
    """Width of the backbone's `pooler_output`: the last stage's channels (CADA-ResNet) or `hidden_size`."""
    stage_channels = getattr(config, "stage_channels", None)
    return stage_channels[-1] if stage_channels else config.hidden_size


@dataclass
class JointEmbeddingOutput(ModelOutput):
    """`loss` and the per-view outputs of the heads, `(V, B, D)` (SimCLR: projections; DINO: student logits of the
    global views)."""

    loss: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


class JointEmbeddingPreTrainedModel(SafeLoadingMixin, PreTrainedModel):
    """What both objectives share: the backbone of the config's variant, running it on a stack of views, PRS-ViT's
    `layer_modes` and `reparameterize` passed through (`PRSCallback` drives pre-training of a PRS-ViT backbone under
    every objective), the heads' init."""

    # One class serves every variant: `from_pretrained` reads the saved config as the variant's own config class.
    config_class = AutoConfig
    base_model_prefix = "backbone"
    main_input_name = "global_views"
    input_modalities = ("image",)

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.takes_interpolate_pos_encoding = (
            "interpolate_pos_encoding" in inspect.signature(self.backbone_class.forward).parameters
        )

    @property
    def backbone_class(self) -> type[PreTrainedModel]:
        """The zoo backbone of the config's variant (its manifest's)."""
        return backbone_class_for(type(self.config))

    # What transformers asks of a model (attention kernels, gradient checkpointing) is what its backbone supports;
    # transformers reads these while `PreTrainedModel.__init__` runs, once `config` is set.
    @property
    def _supports_sdpa(self) -> bool:
        return self.backbone_class._supports_sdpa

    @property
    def _supports_flex_attn(self) -> bool:
        return self.backbone_class._supports_flex_attn

    @property
    def supports_gradient_checkpointing(self) -> bool:
        return self.backbone_class.supports_gradient_checkpointing

    @property
    def layer_modes(self) -> list[str]:
        """The backbone's PRS layer modes; `AttributeError` (so `hasattr` is false) for a backbone without them."""
        return self.backbone.layer_modes

    def reparameterize(self, layer_indices: Iterable[int]) -> list[int]:
        """PRS-ViT's switch of `layer_indices` from convolution to attention, in the backbone and in every other
        backbone the model holds (DINO's teacher, so that its EMA keeps averaging attention weights with attention
        weights); returns the layers the backbone switched."""
        layer_indices = list(layer_indices)
        switched = self.backbone.reparameterize(layer_indices)
        for other in self.other_backbones():
            other.reparameterize(layer_indices)
        return switched

    def other_backbones(self) -> list[nn.Module]:
        """Backbones besides `backbone` that follow its structure (DINO's teacher)."""
        return []

    def embed_views(self, backbone: nn.Module, views: torch.Tensor) -> torch.Tensor:
        """`pooler_output` of `backbone` for `(V, B, C, H, W)` views in one batched call: `(V * B, F)`."""
        if views.ndim != 5:
            raise ValueError(f"views of shape (views, batch, channels, height, width) expected, got {views.shape}")
        size = views.shape[-1]
        kwargs = {}
        if size != self.config.image_size or views.shape[-2] != self.config.image_size:
            if not manifest_for(self.config).model_class.runs_at_any_image_size:
                raise ValueError(
                    f"{type(backbone).__name__} cannot run at another image size than its configured "
                    f"{self.config.image_size} px, got {views.shape[-2]}x{size} views; build views at that size "
                    "(e.g. MultiViewConfig.dino(num_local_views=0)) or use another backbone"
                )
            if self.takes_interpolate_pos_encoding:
                kwargs["interpolate_pos_encoding"] = True
        return backbone(views.flatten(0, 1), return_dict=True, **kwargs).pooler_output

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, DINOHead):
            init.trunc_normal_(module.prototypes, mean=0.0, std=0.02)
        elif isinstance(module, DINOLoss):
            init.zeros_(module.center)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class SimCLRModel(JointEmbeddingPreTrainedModel):
    """SimCLR: the backbone's `pooler_output` of both global views, projected by `ProjectionHead`, scored with
    `nt_xent_loss` at `simclr_temperature`. `forward(global_views (2, B, C, S, S), labels=None)`; `labels` (from
    the collator) are ignored. The loss is always computed."""

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        self.backbone = self.backbone_class(config)
        self.projection = ProjectionHead(
            feature_size(config),
            getattr(config, "simclr_hidden_size", 512),
            getattr(config, "simclr_projection_size", 128),
        )
        self.temperature = getattr(config, "simclr_temperature", 0.2)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        global_views: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> JointEmbeddingOutput | tuple:
        if global_views is None or global_views.ndim != 5 or global_views.shape[0] != 2:
            shape = None if global_views is None else tuple(global_views.shape)
            raise ValueError(f"SimCLR needs global_views of shape (2, batch, channels, height, width), got {shape}")
        projections = self.projection(self.embed_views(self.backbone, global_views))
        projections = projections.unflatten(0, global_views.shape[:2])
        loss = nt_xent_loss(projections[0], projections[1], self.temperature)
        output = JointEmbeddingOutput(loss=loss, embeddings=projections)
        return output


class DINOModel(JointEmbeddingPreTrainedModel):
    """DINO: self-distillation with no labels. The student (`backbone` + `head`, a `DINOHead`) sees the global and
    the local views; the teacher (`teacher_backbone` + `teacher_head`, same architecture, no gradients) only the
    global views; `DINOLoss` (`dino_loss`, whose `center` buffer is saved with the model) makes each student view
    match the teacher's centred, sharpened output of every other global view, at teacher temperature
    `teacher_temperature(self.dino_epoch, dino_warmup_teacher_temperature_epochs, ...)`.

    The teacher is a registered submodule (saved in `model.safetensors`, restored by a resumed `Trainer`), sharing
    no tensor with the student; it is initialised as a copy of the student and then follows it by EMA, which
    `training.dino_teacher.DINOTeacherCallback` applies (`update_teacher`) after every optimizer step, also setting
    `dino_epoch` (a plain attribute, 0 until then) from the Trainer's epoch. Local views at another size than
    `config.image_size` are run with `interpolate_pos_encoding=True`; IsoMixer and IBiT, fixed to their size,
    raise `ValueError` on them. `forward(global_views (G, B, C, S, S), local_views (L, B, C, s, s) = None,
    labels=None)`; `labels` are ignored.
    """

    def __init__(self, config: PreTrainedConfig) -> None:
        super().__init__(config)
        head_sizes = (
            feature_size(config),
            getattr(config, "dino_out_features", 4096),
            getattr(config, "dino_hidden_size", 2048),
            getattr(config, "dino_bottleneck_size", 256),
        )
        self.backbone = self.backbone_class(config)
        self.head = DINOHead(*head_sizes)
        self.teacher_backbone = self.backbone_class(config)
        self.teacher_head = DINOHead(*head_sizes)
        self.teacher_backbone.requires_grad_(False)
        self.teacher_head.requires_grad_(False)
        self.dino_loss = DINOLoss(
            head_sizes[1],
            getattr(config, "dino_student_temperature", 0.1),
            getattr(config, "dino_center_momentum", 0.9),
        )
        self.dino_epoch = 0.0
        self.post_init()

    def other_backbones(self) -> list[nn.Module]:
        return [self.teacher_backbone]

    def student_and_teacher(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.backbone, self.teacher_backbone), (self.head, self.teacher_head)]

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """Every submodule's init, then the teacher's tensors copied from the student's (after `post_init`, and in
        `from_pretrained` for a teacher missing from the checkpoint: `init.copy_` leaves loaded tensors alone).
        Not in `_init_weights(self)`: transformers skips the call on a module without direct parameters."""
        super().initialize_weights()
        for student, teacher in self.student_and_teacher():
            student_state = student.state_dict(keep_vars=True)
            for name, tensor in teacher.state_dict(keep_vars=True).items():
                init.copy_(tensor, student_state[name])

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """`teacher = momentum * teacher + (1 - momentum) * student`, for every parameter; buffers (BatchNorm
        statistics) are the teacher's own."""
        for student, teacher in self.student_and_teacher():
            for teacher_parameter, student_parameter in zip(teacher.parameters(), student.parameters(), strict=True):
                teacher_parameter.mul_(momentum).add_(student_parameter.detach(), alpha=1.0 - momentum)

    def current_teacher_temperature(self) -> float:
        config = self.config
        return teacher_temperature(
            float(self.dino_epoch),
            getattr(config, "dino_warmup_teacher_temperature_epochs", 0),
            getattr(config, "dino_warmup_teacher_temperature", 0.04),
            getattr(config, "dino_teacher_temperature", 0.07),
        )

    @can_return_tuple
    def forward(
        self,
        global_views: torch.Tensor | None = None,
        local_views: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> JointEmbeddingOutput | tuple:
        if global_views is None or global_views.ndim != 5 or global_views.shape[0] < 2:
            shape = None if global_views is None else tuple(global_views.shape)
            raise ValueError(
                f"DINO needs global_views of shape (views >= 2, batch, channels, height, width), got {shape}"
            )
        num_global, batch_size = global_views.shape[:2]
        student = self.head(self.embed_views(self.backbone, global_views))
        if local_views is not None and local_views.shape[0] > 0:
            local = self.head(self.embed_views(self.backbone, local_views))
            student = torch.cat([student, local])
        with torch.no_grad():
            teacher = self.teacher_head(self.embed_views(self.teacher_backbone, global_views))
        loss = self.dino_loss(
            list(student.split(batch_size)), list(teacher.split(batch_size)), self.current_teacher_temperature()
        )
        output = JointEmbeddingOutput(
            loss=loss, embeddings=student[: num_global * batch_size].unflatten(0, (-1, batch_size))
        )
        return output


# The joint-embedding pre-training models, by objective: each takes the config of any variant.
SELF_SUPERVISED_MODELS = {"simclr": SimCLRModel, "dino": DINOModel}
