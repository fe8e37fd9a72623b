"""Image-classification datasets: a Hub id, a local directory (Hub layout or image folder), or the digits default.

Every loader returns a `datasets.DatasetDict` with a `"train"` split and an evaluation split, plus the names of its
image and label columns, so that the rest of the pipeline never guesses.
"""

import logging
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value, concatenate_datasets, load_dataset

DIGITS = "digits"
EVAL_SPLIT_NAMES = ("validation", "test", "valid", "val")
# Label columns looked for when a dataset has no `ClassLabel` column (its labels are plain strings or integers).
LABEL_COLUMN_NAMES = ("label", "labels")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageClassificationData:
    """A loaded dataset and what the pipeline needs to know about it."""

    splits: DatasetDict
    image_column: str
    label_column: str
    eval_split: str

    @property
    def label_names(self) -> list[str]:
        return self.splits["train"].features[self.label_column].names


def digits_dataset(image_size: int = 32, test_fraction: float = 0.2, seed: int = 0) -> DatasetDict:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes) as CIFAR-10-like splits.

    Columns `img` (RGB `Image`, upsampled bilinearly to `image_size`) and `label` (`ClassLabel` "0".."9"), split
    into `train` and `test` per class with a seeded shuffle. Needs no network: the data ships with scikit-learn.
    """
    from PIL import Image as PILImage
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images / 16.0 * 255.0).round().astype(np.uint8)
    images = [
        PILImage.fromarray(array, mode="L").resize((image_size, image_size), PILImage.BILINEAR).convert("RGB")
        for array in pixels
    ]
    features = Features({"img": Image(), "label": ClassLabel(names=[str(d) for d in range(10)])})
    full = Dataset.from_dict({"img": images, "label": digits.target.tolist()}, features=features)
    train_indices, test_indices = _stratified_split(np.asarray(digits.target), test_fraction, seed)
    return DatasetDict(train=full.select(train_indices), test=full.select(test_indices))


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == label))
        num_test = max(1, round(test_fraction * len(indices)))
        test.extend(indices[:num_test].tolist())
        train.extend(indices[num_test:].tolist())
    return sorted(train), sorted(test)


def find_column(dataset: Dataset, feature_type: type, requested: str | None, what: str) -> str:
    """The column holding `feature_type` (the requested one, checked, or the first that matches)."""
    if requested is not None:
        if requested not in dataset.column_names:
            raise ValueError(f"{what} column {requested!r} not found; the dataset has {dataset.column_names}")
        return requested
    for name, feature in dataset.features.items():
        if isinstance(feature, feature_type):
            return name
    hint = " (a column of strings or integers will do)" if feature_type is ClassLabel else ""
    raise ValueError(
        f"no {what} column of type {feature_type.__name__} in the dataset (columns: {dict(dataset.features)}); "
        f"name it with the {what}_column argument{hint}"
    )


def encode_labels(splits: DatasetDict, column: str) -> DatasetDict:
    """`splits` with the string or integer labels of `column` cast to one `ClassLabel` for every split: the
    distinct values of all splits, sorted (numerically for integers), named by their text; logged.

    Raises:
        ValueError: the column holds something else than strings or integers (or both, or missing values).
    """
    values: set = set()
    for split in splits.values():
        values.update(split[column])
    kinds = {type(value) for value in values}
    if not (kinds <= {str} or kinds <= {int}) or not values:
        raise ValueError(
            f"label column {column!r} must hold class labels, strings or integers; it holds "
            f"{sorted(kind.__name__ for kind in kinds) or 'nothing'}"
        )
    ordered = sorted(values)
    names = [str(value) for value in ordered]
    index = {value: position for position, value in enumerate(ordered)}
    logger.warning(
        f"label column {column!r} holds {kinds.pop().__name__} labels: cast to {len(names)} class labels, "
        f"sorted: {names[:20]}{' ...' if len(names) > 20 else ''}"
    )
    encoded = {}
    for name, split in splits.items():
        features = split.features.copy()
        features[column] = ClassLabel(names=names)
        encoded[name] = split.map(
            lambda batch: {column: [index[value] for value in batch[column]]}, batched=True, features=features
        )
    return DatasetDict(encoded)


def load_image_dataset(
    name_or_path: str = DIGITS,
    image_column: str | None = None,
    label_column: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> ImageClassificationData:
    """Loads `"digits"` (the embedded default), a Hub id such as `"uoft-cs/cifar10"`, or a local directory.

    A local directory may be in the Hub's layout (parquet shards with a dataset card, like `uoft-cs/cifar10`) or an
    image folder (`train/<class>/*.png`, ...): `datasets.load_dataset` recognises both. The evaluation split is the
    first of `validation`, `test`, `valid`, `val` present; if there is none, a class-balanced `validation_fraction`
    of `train` is held out with `seed`. The label column is the first `ClassLabel`, else `label_column` or a column
    named `label`/`labels` holding strings or integers, which `encode_labels` casts to class labels.
    """
    splits = digits_dataset(seed=seed) if name_or_path == DIGITS else load_dataset(name_or_path)
    if not isinstance(splits, DatasetDict) or "train" not in splits:
        raise ValueError(f"dataset {name_or_path!r} has no 'train' split (splits: {list(splits)})")
    train = splits["train"]
    image_column = find_column(train, Image, image_column, "image")
    label_column = label_column or next((name for name in LABEL_COLUMN_NAMES if name in train.column_names), None)
    label_column = find_column(train, ClassLabel, label_column, "label")
    if not isinstance(train.features[label_column], ClassLabel):
        splits = encode_labels(splits, label_column)
    eval_split = next((name for name in EVAL_SPLIT_NAMES if name in splits), None)
    if eval_split is None:
        labels = np.asarray(train[label_column])
        train_indices, eval_indices = _stratified_split(labels, validation_fraction, seed)
        splits = DatasetDict(train=train.select(train_indices), validation=train.select(eval_indices))
        eval_split = "validation"
    return ImageClassificationData(splits, image_column, label_column, eval_split)


def class_balanced_indices(labels: np.ndarray, fraction: float, seed: int = 0) -> list[int]:
    """The sorted row indices of `class_balanced_subset`: `round(fraction * n_c)` (at least one) per class `c`."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        count = max(1, round(fraction * len(indices)))
        chosen.extend(rng.choice(indices, size=count, replace=False).tolist())
    return sorted(chosen)


def class_balanced_subset(dataset: Dataset, fraction: float, label_column: str, seed: int = 0) -> Dataset:
    """A seeded subset with `round(fraction * n_c)` (at least one) examples of each class `c`, in dataset order.

    The same `seed` and `fraction` always select the same rows, and a smaller fraction's rows are not guaranteed to
    be inside a larger one's (each fraction is drawn independently, as in the data-efficiency studies).
    """
    if fraction == 1.0:
        return dataset
    return dataset.select(class_balanced_indices(np.asarray(dataset[label_column]), fraction, seed))


def held_out_indices(labels: np.ndarray, excluded: set[int] | list[int], size: int, seed: int = 0) -> list[int]:
    """The sorted row indices of `held_out_subset`: `size` rows, class-balanced and seeded, outside `excluded`.

    Raises:
        ValueError: `size` is not positive, or there are not enough rows outside `excluded` for it.
    """
    if size < 1:
        raise ValueError(f"validation_size must be >= 1, got {size}")
    free_rows = np.ones(len(labels), dtype=bool)
    free_rows[np.asarray(sorted(excluded), dtype=np.int64)] = False
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for position, label in enumerate(classes):
        count = size // len(classes) + (1 if position < size % len(classes) else 0)
        free = np.flatnonzero((labels == label) & free_rows)
        if len(free) < count:
            raise ValueError(
                f"validation_size {size} needs {count} images of class {label} outside the training subset; "
                f"only {len(free)} are left"
            )
        chosen.extend(rng.choice(free, size=count, replace=False).tolist())
    return sorted(chosen)


def held_out_subset(
    dataset: Dataset, excluded: set[int] | list[int], size: int, label_column: str, seed: int = 0
) -> Dataset:
    """A class-balanced, seeded selection of `size` rows of `dataset` outside the row indices `excluded` (the
    training subset): the validation split for tuning a recipe without touching the test split
    (`held_out_indices`)."""
    return dataset.select(held_out_indices(np.asarray(dataset[label_column]), excluded, size, seed))


# The label of a training image whose label is not used (transformers' ignore index of the cross-entropy).
UNLABELLED = -100


def with_unlabelled_images(
    dataset: Dataset,
    labelled: list[int],
    excluded: set[int] | list[int],
    count: int | None,
    label_column: str,
    seed: int = 0,
) -> tuple[Dataset, int]:
    """The rows `labelled` of `dataset`, then `count` (all when `None`) seeded, randomly chosen rows outside
    `labelled` and `excluded` (a validation split) whose labels are replaced by `UNLABELLED`; and how many those
    are. Their true labels are never read: the choice does not look at them (semi-supervised training, e.g.
    distillation on unlabelled images). The label column becomes plain integers.

    Raises:
        ValueError: `count` is not positive, or fewer rows are left outside `labelled` and `excluded`.
    """
    free_rows = np.ones(len(dataset), dtype=bool)
    free_rows[np.asarray(sorted({*labelled, *excluded}), dtype=np.int64)] = False
    free = np.flatnonzero(free_rows)
    if count is None:
        count = len(free)
    if count < 1 or count > len(free):
        raise ValueError(
            f"unlabelled_images must be between 1 and the {len(free)} training images outside the labelled subset "
            f"and the validation split, got {count}"
        )
    chosen = sorted(np.random.default_rng(seed).choice(free, size=count, replace=False).tolist())
    integer_label = Value("int64")
    labelled_rows = dataset.select(labelled).cast_column(label_column, integer_label)
    unlabelled_rows = dataset.select(chosen).remove_columns(label_column)
    unlabelled_rows = unlabelled_rows.add_column(label_column, [UNLABELLED] * count, feature=integer_label)
    unlabelled_rows = unlabelled_rows.select_columns(labelled_rows.column_names)
    return concatenate_datasets([labelled_rows, unlabelled_rows]), count
