"""k-NN accuracy of the frozen backbone, logged into the Trainer's history during pre-training."""

import logging
from collections.abc import Callable

from torch import nn
from torch.utils.data import Dataset
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..evaluation import extract_features, knn_accuracy

logger = logging.getLogger(__name__)


class KNNMonitorCallback(TrainerCallback):
    """The standard monitor of self-supervised pre-training: weighted k-NN accuracy of the current frozen features
    (Wu et al. 2018; Caron et al. 2021, DINO: cosine similarity, `k=20`, votes weighted by `exp(s / 0.07)`).

    At the end of every epoch `e` (counted from 1) with `e % every_n_epochs == 0`, and at the end of training unless
    the last epoch was just measured, `pooler_output` features of `train_dataset` (the memory bank) and of
    `eval_dataset` (held out) are extracted with the model being trained, in eval mode and without gradients (see
    `extract_features`), and `knn_accuracy` of the held-out examples is computed. Both datasets yield
    `{"image", "label"}` without augmentation (`DecodedImageDataset` without a `batch_transform`). The features come
    from `feature_model_fn(model)` if given (e.g. a DINO wrapper's teacher or student), else from the backbone the
    model wraps (`base_model` or a `backbone` attribute, see `feature_backbone`).

    The result is appended to `state.log_history` as `{"knn_accuracy": a, "epoch": e, "step": s}`, as `PRSCallback`
    records its switches, so it is saved in `trainer_state.json` with the next checkpoint, and logged through the
    `logging` module. Reporting integrations (`report_to`) only see what `Trainer.log` sends, so they do not get it;
    `control` is left untouched, because changing `should_log` on one process would desynchronise the loss
    all-gather of a multi-process run. In a multi-process run only the world process zero computes (the others go
    straight on and wait for it at their next collective operation, so a run's `ddp_timeout` must exceed one
    measurement); sharded models (FSDP, DeepSpeed ZeRO-3) are not supported, since rank 0 alone cannot run them.
    """

    def __init__(
        self,
        train_dataset: Dataset,
        eval_dataset: Dataset,
        every_n_epochs: int = 1,
        k: int = 20,
        temperature: float = 0.07,
        batch_size: int | None = None,
        feature_model_fn: Callable[[nn.Module], nn.Module] | None = None,
        collate_fn: Callable[[list[dict]], dict] | None = None,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.every_n_epochs = every_n_epochs
        self.k = k
        self.temperature = temperature
        self.batch_size = batch_size
        self.feature_model_fn = feature_model_fn
        self.collate_fn = collate_fn
        self.last_measured_step: int | None = None

    def measure(self, args: TrainingArguments, state: TrainerState, model: nn.Module) -> None:
        """Extracts the features of both datasets with `model` now, and records and logs their k-NN accuracy."""
        self.last_measured_step = state.global_step
        if not state.is_world_process_zero:
            return
        feature_model = self.feature_model_fn(model) if self.feature_model_fn is not None else model
        batch_size = self.batch_size or args.per_device_eval_batch_size
        bank, held_out = (
            extract_features(
                feature_model,
                dataset,
                batch_size,
                collate_fn=self.collate_fn,
                num_workers=args.dataloader_num_workers,
            )
            for dataset in (self.train_dataset, self.eval_dataset)
        )
        accuracy = knn_accuracy(*bank, *held_out, k=self.k, temperature=self.temperature)
        state.log_history.append({"knn_accuracy": accuracy, "epoch": state.epoch, "step": state.global_step})
        logger.info("k-NN accuracy %.4f at epoch %.2f (step %d)", accuracy, state.epoch or 0.0, state.global_step)

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if int(state.epoch or 0) % self.every_n_epochs == 0:
            self.measure(args, state, model)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model=None, **kwargs
    ) -> None:
        if self.last_measured_step != state.global_step:
            self.measure(args, state, model)
