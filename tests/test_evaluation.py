"""Frozen-feature evaluation: weighted k-NN against a plain reference, the linear probe, feature extraction from zoo
models, and the k-NN monitor inside a real Trainer run."""

import math

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import tiny_config
from datasets import ClassLabel, Dataset, Features, Image
from torch import nn
from transformers import AutoModelForMaskedImageModeling

import inductive_zoo
from inductive_zoo import IsoConvNetConfig
from inductive_zoo.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DecodedImageDataset,
    ImageClassificationCollator,
    load_image_dataset,
)
from inductive_zoo.evaluation import (
    extract_features,
    held_out_reconstruction_loss,
    knn_accuracy,
    linear_probe_accuracy,
)
from inductive_zoo.training.image_classification import build_trainer, parse_args
from inductive_zoo.training.knn_monitor import KNNMonitorCallback

VARIANTS_BY_TYPE = {variant[0].model_type: variant for variant in inductive_zoo.VARIANTS}


def clusters(num_classes: int, per_class: int, dim: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(1234))
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=generator), labels


def reference_knn_predictions(train_x, train_y, test_x, k, temperature, num_classes) -> list[int]:
    """Wu et al. (2018) written plainly: cosine similarity to every training row, the k most similar vote with
    weight exp(similarity / temperature), the class with the largest total wins (the lowest class id on a tie)."""
    predictions = []
    for query in test_x.tolist():
        similarities = []
        for index, row in enumerate(train_x.tolist()):
            dot = sum(a * b for a, b in zip(query, row, strict=True))
            norms = math.sqrt(sum(a * a for a in query)) * math.sqrt(sum(b * b for b in row))
            similarities.append((dot / norms, index))
        similarities.sort(key=lambda pair: -pair[0])
        totals = [0.0] * num_classes
        for similarity, index in similarities[:k]:
            totals[int(train_y[index])] += math.exp(similarity / temperature)
        predictions.append(max(range(num_classes), key=lambda c: (totals[c], -c)))
    return predictions


def test_knn_is_perfect_on_separated_clusters_and_at_chance_on_random_labels():
    train_x, train_y = clusters(10, 100, 32, noise=0.1, seed=0)
    test_x, test_y = clusters(10, 50, 32, noise=0.1, seed=1)
    assert knn_accuracy(train_x, train_y, test_x, test_y) == 1.0
    # Labels unrelated to the features: 2,000 queries with independent neighbourhoods, so the accuracy is near 0.1.
    generator = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(2000, 32, generator=generator), torch.randn(2000, 32, generator=generator)
    train_y, test_y = (
        torch.randint(0, 10, (2000,), generator=generator),
        torch.randint(0, 10, (2000,), generator=generator),
    )
    assert 0.07 < knn_accuracy(train_x, train_y, test_x, test_y) < 0.13


def test_knn_matches_a_plain_reference_implementation():
    generator = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(120, 6, generator=generator), torch.randn(30, 6, generator=generator)
    train_y, test_y = torch.randint(0, 4, (120,), generator=generator), torch.randint(0, 4, (30,), generator=generator)
    expected = reference_knn_predictions(train_x, train_y, test_x, k=7, temperature=0.1, num_classes=4)
    accuracy = np.mean(np.asarray(expected) == test_y.numpy())
    for chunk_size in (1, 7, 1024):
        assert knn_accuracy(train_x, train_y, test_x, test_y, k=7, temperature=0.1, chunk_size=chunk_size) == accuracy
    for row, prediction in enumerate(expected):  # prediction by prediction, not only their count
        one = slice(row, row + 1)
        single = knn_accuracy(train_x, train_y, test_x[one], [prediction], k=7, temperature=0.1, num_classes=4)
        assert single == 1.0, row


def test_temperature_weighting_can_outvote_the_majority():
    # The query's nearest neighbour (cosine 1) is class 0; the next two (cosine 0.5) are class 1.
    train_x = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(0.75)], [0.5, -math.sqrt(0.75)], [-1.0, 0.0]])
    train_y = torch.tensor([0, 1, 1, 0])
    query = torch.tensor([[2.0, 0.0]])
    # exp(1 / 0.07) > 2 exp(0.5 / 0.07): the weighted vote picks class 0 ...
    assert knn_accuracy(train_x, train_y, query, [0], k=3, temperature=0.07) == 1.0
    # ... while at a high temperature every vote weighs about the same and the majority, class 1, wins.
    assert knn_accuracy(train_x, train_y, query, [1], k=3, temperature=100.0) == 1.0


def test_knn_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same D"):
        knn_accuracy(torch.zeros(4, 3), torch.zeros(4), torch.zeros(2, 5), torch.zeros(2))
    with pytest.raises(ValueError, match="one label per feature row"):
        knn_accuracy(torch.zeros(4, 3), torch.zeros(3), torch.zeros(2, 3), torch.zeros(2))


def test_linear_probe_separates_separable_data_deterministically():
    train_x, train_y = clusters(5, 60, 16, noise=0.5, seed=0)
    test_x, test_y = clusters(5, 40, 16, noise=0.5, seed=1)
    swept = linear_probe_accuracy(train_x, train_y, test_x, test_y)
    assert swept > 0.95
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y) == swept
    assert linear_probe_accuracy(train_x.numpy(), train_y.numpy(), test_x, test_y, c_values=[1.0]) > 0.95
    shuffled = train_y[torch.randperm(len(train_y), generator=torch.Generator().manual_seed(0))]
    assert linear_probe_accuracy(train_x, shuffled, test_x, test_y, c_values=[1.0]) < 0.45  # chance is 0.2


def random_image_dataset(count: int, image_size: int) -> DecodedImageDataset:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (count, image_size, image_size, 3), dtype=np.uint8)
    images = [PIL.Image.fromarray(array) for array in pixels]
    features = Features({"img": Image(), "label": ClassLabel(names=["a", "b", "c"])})
    dataset = Dataset.from_dict({"img": images, "label": [i % 3 for i in range(count)]}, features=features)
    return DecodedImageDataset(dataset, "test", "img", "label", image_size)


@pytest.mark.parametrize("model_type", ["iso_transformer", "cada_resnet"])
@pytest.mark.parametrize("training", [True, False])
def test_extract_features_gives_frozen_pooled_features_and_keeps_the_mode(model_type, training):
    config_class, _, classifier_class = VARIANTS_BY_TYPE[model_type]
    torch.manual_seed(0)
    classifier = classifier_class(tiny_config(config_class))
    classifier.train(training)
    if training:  # a mixed state: one submodule in eval mode, to be restored as it was
        list(classifier.backbone.children())[-1].eval()
    modes = {name: module.training for name, module in classifier.named_modules()}
    state = {name: tensor.clone() for name, tensor in classifier.state_dict().items()}
    dataset = random_image_dataset(10, classifier.config.image_size)

    features, labels = extract_features(classifier, dataset, batch_size=4, device="cpu")

    width = classifier.config.hidden_size if model_type == "iso_transformer" else classifier.config.stage_channels[-1]
    assert features.shape == (10, width) and features.dtype == torch.float32
    assert labels.tolist() == [i % 3 for i in range(10)]
    assert {name: module.training for name, module in classifier.named_modules()} == modes
    for name, tensor in classifier.state_dict().items():  # BatchNorm running statistics included
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0, msg=name)
    classifier.eval()
    batch = ImageClassificationCollator(IMAGENET_MEAN, IMAGENET_STD)([dataset[i] for i in range(10)])
    with torch.no_grad():
        expected = classifier.backbone(batch["pixel_values"]).pooler_output
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    wrapper = nn.Module()
    wrapper.backbone = classifier.backbone
    for model in (classifier.backbone, wrapper):
        torch.testing.assert_close(extract_features(model, dataset, batch_size=10)[0], features)


def test_knn_monitor_logs_every_epoch_of_a_real_trainer_run(cifar10_path, tmp_path):
    args = parse_args(
        [
            "--dataset", str(cifar10_path),
            "--model_type", "iso_transformer",
            "--preset", "micro-patch4-32",
            "--config_overrides", "num_hidden_layers=2,hidden_size=48,num_attention_heads=3,intermediate_size=96",
            "--train_fraction", "0.005",
            "--max_eval_samples", "200",
            "--num_train_epochs", "2",
            "--per_device_train_batch_size", "64",
            "--per_device_eval_batch_size", "250",
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--report_to", "none",
            "--dataloader_pin_memory", "false",
            "--output_dir", str(tmp_path),
        ]
    )  # fmt: skip
    trainer = build_trainer(*args)
    augmented = trainer.train_dataset
    memory_bank = DecodedImageDataset(
        augmented.dataset, "train", augmented.image_column, augmented.label_column, augmented.image_size
    )
    trainer.add_callback(KNNMonitorCallback(memory_bank, trainer.eval_dataset, every_n_epochs=1))
    trainer.train()
    entries = [entry for entry in trainer.state.log_history if "knn_accuracy" in entry]
    assert [entry["epoch"] for entry in entries] == [1.0, 2.0], entries
    # The last entry is the k-NN accuracy of the trained model's features, computed here independently.
    bank_features, bank_labels = extract_features(trainer.model, memory_bank)
    query_features, query_labels = extract_features(trainer.model, trainer.eval_dataset)
    expected = knn_accuracy(bank_features, bank_labels, query_features, query_labels)
    assert entries[-1]["knn_accuracy"] == pytest.approx(expected), entries
    assert trainer.model.training


def test_evaluation_leaves_the_global_random_stream_alone(cifar10_path):
    # The k-NN monitor runs mid-training: drawing from torch's global generator would change the run it monitors.
    data = load_image_dataset(str(cifar10_path))
    split = data.splits[data.eval_split].select(range(8))
    model = AutoModelForMaskedImageModeling.from_config(tiny_config(IsoConvNetConfig))
    dataset = DecodedImageDataset(split, data.eval_split, data.image_column, data.label_column, model.config.image_size)
    state = torch.get_rng_state()
    extract_features(model, dataset)
    held_out_reconstruction_loss(model, dataset)
    assert torch.equal(torch.get_rng_state(), state)
