"""Releasing a self-supervised backbone: the encoder of an `inductive-zoo pretrain` run as an `AutoModel` repository
(config, weights, image processor, card; with `--remote-code` the variant's modeling code), for users to fine-tune
with `AutoModelForImageClassification.from_pretrained(..., num_labels=N)`. The objective's decoder or projection head
is left out; the card reports the run's frozen-feature k-NN and linear-probe accuracy (`model_cards/_backbone.md`).
"""

import logging
import os
import shutil
from pathlib import Path

from ..training.records import PretrainingRecord
from .cards import DEFAULT_LICENSE, CardInputs, hub_id, render_model_card
from .remote_code import add_remote_code

logger = logging.getLogger(__name__)


class BackboneError(ValueError):
    """A pre-training run cannot be released as a backbone; the message says why."""


def stage_backbone_repository(
    run_dir: str | os.PathLike,
    staging_dir: str | os.PathLike,
    repo_id: str,
    *,
    remote_code: bool = False,
    dataset_id: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> list[str]:
    """Writes the backbone repository of the pre-training run in `run_dir` into the empty folder `staging_dir`;
    returns its files. `dataset_id` is the Hub id of the pre-training data for the card (default: the recorded
    dataset when it is a Hub id).

    Raises:
        BackboneError: `run_dir` is not a pre-training run, or its encoder does not load whole with `AutoModel`.
    """
    from transformers import AutoModel

    from ..data import image_processor_for

    run_dir, staging_dir = Path(run_dir), Path(staging_dir)
    record = PretrainingRecord.load(run_dir)
    if record is None:
        raise BackboneError(f"{run_dir} is not an `inductive-zoo pretrain` run: it has no pretraining_results.json")
    backbone, loading_info = AutoModel.from_pretrained(run_dir, output_loading_info=True)
    if loading_info["missing_keys"]:
        # A backbone that silently got fresh weights would be worse than none.
        raise BackboneError(f"{run_dir}: the encoder lacks weights: {sorted(loading_info['missing_keys'])[:5]} ...")
    backbone.save_pretrained(staging_dir)
    if remote_code:
        add_remote_code(staging_dir)
    processor_file = run_dir / "preprocessor_config.json"
    if processor_file.is_file():
        shutil.copyfile(processor_file, staging_dir / processor_file.name)
    else:
        image_processor_for(backbone.config.image_size, backbone.config.num_channels).save_pretrained(staging_dir)

    dataset_id = dataset_id or hub_id(record.dataset)
    if dataset_id is None and os.path.isdir(record.dataset):
        logger.warning(
            f"{run_dir} was pre-trained on the local directory {record.dataset}, which the card will name; pass "
            "--dataset-id with the Hub id of the same data so that its users can repeat the run"
        )
    inputs = CardInputs(
        repo_id=repo_id,
        config=backbone.config,
        loading="remote_code" if remote_code else "package",
        metrics={},
        summary=None,
        dataset_id=dataset_id,
        license=license,
        pretraining=record,
    )
    render_model_card(inputs).save(staging_dir / "README.md")
    return sorted(path.relative_to(staging_dir).as_posix() for path in staging_dir.rglob("*") if path.is_file())
