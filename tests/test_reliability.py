"""Faults: atomic writes, checkpoints that survive a kill during a save, exact resume after SIGKILL (also in the
middle of an epoch), the non-finite-loss guard, and run-to-run determinism of the recipes."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification, TrainerCallback, TrainerControl, TrainerState

from inductive_zoo.training.atomic_writes import atomic_directory, write_json_atomic
from inductive_zoo.training.checkpointing import (
    STAGING_DIR_NAME,
    IncompleteCheckpointError,
    check_complete_checkpoint,
    last_complete_checkpoint,
)
from inductive_zoo.training.image_classification import build_trainer, parse_args, run
from inductive_zoo.training.nan_guard import NonFiniteLossCallback, NonFiniteLossError
from inductive_zoo.training.seeded_data import SeededBatches, batch_seed

ROOT = Path(__file__).resolve().parents[1]
CLASSIFICATION_SCRIPT = ROOT / "training" / "run_image_classification.py"
PRETRAINING_SCRIPT = ROOT / "training" / "run_pretraining.py"

# Digits (embedded, offline): 10 % is 144 training images, 9 steps of 16 per epoch, 18 steps in 2 epochs; saves
# every 4 steps, so checkpoints 4, 12 and 16 are in the middle of an epoch. Drop path and augmentation are on, so
# the model's and the data's random draws must both be restored for the resumed run to match.
DIGITS_RUN = [
    "--config_overrides", "num_hidden_layers=2,hidden_size=48,intermediate_size=64,drop_path_rate=0.1",
    "--train_fraction", "0.1",
    "--max_eval_samples", "50",
    "--num_train_epochs", "2",
    "--per_device_train_batch_size", "16",
    "--learning_rate", "1e-3",
    "--save_strategy", "steps",
    "--save_steps", "4",
    "--logging_steps", "1",
    "--report_to", "none",
    "--seed", "0",
    "--dataloader_pin_memory", "false",
    "--do_train", "--do_eval",
]  # fmt: skip


def digits_args(output_dir: Path, *extra: str) -> tuple:
    return parse_args([*DIGITS_RUN, "--output_dir", str(output_dir), *extra])


def assert_same_weights(directory_a: Path, directory_b: Path) -> None:
    weights_a, weights_b = load_file(directory_a / "model.safetensors"), load_file(directory_b / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    for name, tensor in weights_a.items():
        torch.testing.assert_close(weights_b[name], tensor, atol=0, rtol=0, msg=name)


def run_metrics(directory: Path) -> dict:
    return json.loads((directory / "all_results.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted_digits_run(tmp_path_factory) -> Path:
    """The reference: the digits run above, trained without interruption in this process."""
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    run(*digits_args(output_dir))
    return output_dir


def wait_for(condition, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit code {process.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


# --- atomic writes ---------------------------------------------------------------------------------------------


def test_atomic_directory_replaces_on_success_and_leaves_the_old_one_on_failure(tmp_path):
    target = tmp_path / "published"
    with atomic_directory(target) as staging:
        (staging / "weights.txt").write_text("v1")
        assert not target.exists()  # nothing visible until the block ends
    assert (target / "weights.txt").read_text() == "v1"

    with pytest.raises(RuntimeError, match="interrupted"), atomic_directory(target) as staging:
        (staging / "weights.txt").write_text("half of v2")
        raise RuntimeError("interrupted")
    assert (target / "weights.txt").read_text() == "v1"

    with atomic_directory(target) as staging:
        (staging / "other.txt").write_text("v3")
    assert sorted(path.name for path in target.iterdir()) == ["other.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["published"]  # no staging or aside directories


def test_write_json_atomic_never_leaves_a_partial_file(tmp_path):
    path = tmp_path / "cells" / "results.json"
    write_json_atomic(path, {"cell": 1, "accuracy": 0.5})
    assert json.loads(path.read_text()) == {"cell": 1, "accuracy": 0.5}
    # json.dump fails on the last value after having written the first ones: an interrupted write.
    with pytest.raises(TypeError):
        write_json_atomic(path, {"cell": 2, "accuracy": object()})
    assert json.loads(path.read_text()) == {"cell": 1, "accuracy": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_last_complete_checkpoint_skips_interrupted_saves(tmp_path):
    for step, files in [(2, ["trainer_state.json", "model.safetensors"]), (4, ["model.safetensors"]), (6, [])]:
        directory = tmp_path / f"checkpoint-{step}"
        directory.mkdir()
        for name in files:
            (directory / name).write_text("{}")
    (tmp_path / "checkpoint-latest").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    with pytest.raises(IncompleteCheckpointError, match=r"checkpoint-4 is incomplete \(missing trainer_state.json\)"):
        check_complete_checkpoint(tmp_path / "checkpoint-4")
    assert last_complete_checkpoint(tmp_path / "absent") is None


def test_seeded_batches_depend_on_seed_epoch_and_indices_only():
    class Noise(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, index):
            return torch.rand(3)

    batches = SeededBatches(Noise(), torch.stack, seed=0)
    first = batches.__getitems__([3, 1, 4])[0]
    torch.rand(5)  # the global generator moves on: no effect on the batches
    assert torch.equal(batches.__getitems__([3, 1, 4])[0], first)
    before = torch.get_rng_state()
    batches.__getitems__([1, 5])
    assert torch.equal(torch.get_rng_state(), before)  # fetching consumes nothing from the global generator
    batches.epoch = 1
    assert not torch.equal(batches.__getitems__([3, 1, 4])[0], first)
    assert len({batch_seed(0, 0, [1, 2]), batch_seed(0, 0, [2, 1]), batch_seed(1, 0, [1, 2])}) == 3


# --- exact resume ----------------------------------------------------------------------------------------------


def test_resume_in_the_middle_of_an_epoch_is_bitwise_exact(uninterrupted_digits_run, tmp_path):
    reference = uninterrupted_digits_run
    for checkpoint in ("checkpoint-4", "checkpoint-12"):  # in epochs 0 and 1
        resumed = tmp_path / checkpoint
        run(*digits_args(resumed, "--resume_from_checkpoint", str(reference / checkpoint)))
        assert_same_weights(reference, resumed)
        assert run_metrics(resumed)["eval_loss"] == run_metrics(reference)["eval_loss"]
        assert run_metrics(resumed)["eval_accuracy"] == run_metrics(reference)["eval_accuracy"]
        # The mean training loss covers the whole run, not only the resumed part as Trainer reports it.
        assert run_metrics(resumed)["train_loss"] == pytest.approx(run_metrics(reference)["train_loss"], rel=1e-6)


def test_same_seed_gives_the_same_run(uninterrupted_digits_run, tmp_path):
    run(*digits_args(tmp_path / "again"))
    assert_same_weights(uninterrupted_digits_run, tmp_path / "again")
    assert run_metrics(tmp_path / "again")["eval_loss"] == run_metrics(uninterrupted_digits_run)["eval_loss"]
    history = json.loads((uninterrupted_digits_run / "trainer_state.json").read_text())["log_history"]
    again = json.loads((tmp_path / "again" / "trainer_state.json").read_text())["log_history"]
    assert [e["loss"] for e in history if "loss" in e] == [e["loss"] for e in again if "loss" in e]
    run(*digits_args(tmp_path / "seed1", "--seed", "1", "--save_strategy", "no"))
    assert run_metrics(tmp_path / "seed1")["eval_loss"] != run_metrics(uninterrupted_digits_run)["eval_loss"]


@pytest.mark.slow
def test_dataloader_workers_do_not_change_the_run(uninterrupted_digits_run, tmp_path):
    run(*digits_args(tmp_path, "--dataloader_num_workers", "2"))
    assert_same_weights(uninterrupted_digits_run, tmp_path)
    assert run_metrics(tmp_path)["eval_loss"] == run_metrics(uninterrupted_digits_run)["eval_loss"]


# Trains the digits run in a subprocess whose second checkpoint save stalls after the model is written: the test
# kills it there, in the middle of the save of checkpoint-8, with save_total_limit 1.
SLOW_SAVE_RUN = """
import sys, time
from pathlib import Path
from transformers import Trainer
from inductive_zoo.training.image_classification import main

original = Trainer._save_optimizer_and_scheduler
saves = []

def stalling_save(self, output_dir):
    saves.append(output_dir)
    if len(saves) == 2:
        Path(sys.argv[1], "saving").write_text(output_dir)
        time.sleep(600)
    original(self, output_dir)

Trainer._save_optimizer_and_scheduler = stalling_save
main(sys.argv[2:])
"""


@pytest.mark.slow
def test_kill_during_a_checkpoint_save_keeps_the_previous_checkpoint_and_resume_is_exact(
    uninterrupted_digits_run, tmp_path
):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    arguments = [*DIGITS_RUN, "--output_dir", str(output_dir), "--save_total_limit", "1"]
    process = subprocess.Popen([sys.executable, "-c", SLOW_SAVE_RUN, str(tmp_path), *arguments], cwd=tmp_path)
    wait_for(lambda: (tmp_path / "saving").exists(), process)
    kill(process)

    staged = output_dir / STAGING_DIR_NAME / "checkpoint-8"
    assert (tmp_path / "saving").read_text() == str(staged)
    assert (staged / "model.safetensors").exists() and not (staged / "trainer_state.json").exists()
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-4"]  # not rotated away
    check_complete_checkpoint(output_dir / "checkpoint-4")
    AutoModelForImageClassification.from_pretrained(output_dir / "checkpoint-4")
    assert last_complete_checkpoint(output_dir) == output_dir / "checkpoint-4"

    run(*digits_args(output_dir, "--save_total_limit", "1", "--resume_from_checkpoint", "last"))
    assert not staged.exists()  # the next save of step 8 replaced the partial directory
    assert_same_weights(uninterrupted_digits_run, output_dir)
    assert run_metrics(output_dir)["eval_loss"] == run_metrics(uninterrupted_digits_run)["eval_loss"]


@pytest.mark.slow
def test_sigkill_in_the_middle_of_an_epoch_then_resume_matches_the_uninterrupted_run(
    uninterrupted_digits_run, tmp_path
):
    output_dir = tmp_path / "run"
    command = [sys.executable, str(CLASSIFICATION_SCRIPT), *DIGITS_RUN, "--output_dir", str(output_dir)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (output_dir / "checkpoint-4").exists(), process)  # complete: it appears by rename
    kill(process)
    state = json.loads((last_complete_checkpoint(output_dir) / "trainer_state.json").read_text())
    assert 4 <= state["global_step"] < 18 and not (output_dir / "model.safetensors").exists()

    resumed = subprocess.run([*command, "--resume_from_checkpoint", "last"], cwd=tmp_path, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    assert_same_weights(uninterrupted_digits_run, output_dir)
    assert run_metrics(output_dir)["eval_loss"] == run_metrics(uninterrupted_digits_run)["eval_loss"]


def sigkill_and_resume(command: list[str], output_dir: Path, first_checkpoint: str, cwd: Path) -> None:
    """Runs `command`, SIGKILLs it once `first_checkpoint` exists, reruns it with `--resume_from_checkpoint last`."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (output_dir / first_checkpoint).exists(), process)
    kill(process)
    resumed = subprocess.run([*command, "--resume_from_checkpoint", "last"], cwd=cwd, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]


@pytest.mark.slow
def test_sigkill_and_resume_of_prs_vit_layer_modes_is_exact(cifar10_path, tmp_path):
    # 200 images, batches of 25: 8 steps per epoch, 24 in 3 epochs; linear schedule over E = 2 epochs switches
    # layer 2 at epoch 0, layer 1 at epoch 1 and layer 0 at epoch 2; checkpoints every 5 steps (mid-epoch).
    arguments = [
        "--dataset", str(cifar10_path), "--model_type", "prs_vit", "--preset", "micro-patch4-32",
        "--config_overrides", "hidden_size=72,intermediate_size=144", "--schedule", "linear", "--conv_epochs", "2",
        "--train_fraction", "0.004", "--max_eval_samples", "100", "--num_train_epochs", "3",
        "--per_device_train_batch_size", "25", "--learning_rate", "1e-3", "--save_strategy", "steps",
        "--save_steps", "5", "--report_to", "none", "--seed", "0", "--dataloader_pin_memory", "false",
        "--do_train", "--do_eval",
    ]  # fmt: skip
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run(*parse_args([*arguments, "--output_dir", str(reference)]))
    command = [sys.executable, str(CLASSIFICATION_SCRIPT), *arguments, "--output_dir", str(killed)]
    sigkill_and_resume(command, killed, "checkpoint-10", tmp_path)  # killed in epoch 1, layer 0 still convolution
    assert json.loads((killed / "config.json").read_text())["attention_layers"] == [0, 1, 2]
    assert_same_weights(reference, killed)
    assert run_metrics(killed)["eval_loss"] == run_metrics(reference)["eval_loss"]


@pytest.mark.slow
def test_sigkill_and_resume_of_dino_with_its_teacher_is_exact(cifar10_path, tmp_path):
    # 500 images, batches of 50: 10 steps per epoch, 20 in 2 epochs; checkpoints every 6 steps (mid-epoch).
    arguments = [
        "--objective", "dino", "--model_type", "iso_transformer", "--preset", "micro-patch4-32",
        "--num_local_views", "2", "--config_overrides",
        "num_hidden_layers=2,dino_out_features=1024,dino_center_momentum=0.99,"
        "dino_warmup_teacher_temperature=0.015,dino_teacher_temperature=0.02",
        "--dataset", str(cifar10_path), "--train_fraction", "0.01", "--eval_bank_size", "100", "--eval_size", "100",
        "--num_train_epochs", "2", "--per_device_train_batch_size", "50", "--learning_rate", "1e-3",
        "--save_strategy", "steps", "--save_steps", "6", "--logging_steps", "1", "--report_to", "none",
        "--dataloader_pin_memory", "false", "--seed", "0",
    ]  # fmt: skip
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for output_dir in (reference, killed):
        output_dir.mkdir()
    subprocess.run(
        [sys.executable, str(PRETRAINING_SCRIPT), *arguments, "--output_dir", str(reference)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    command = [sys.executable, str(PRETRAINING_SCRIPT), *arguments, "--output_dir", str(killed)]
    sigkill_and_resume(command, killed, "checkpoint-6", tmp_path)
    reference_weights, resumed_weights = (
        load_file(reference / "model.safetensors"),
        load_file(killed / "model.safetensors"),
    )
    assert any(name.startswith("teacher_backbone.") for name in reference_weights)
    assert any("center" in name for name in reference_weights)
    for name, tensor in reference_weights.items():  # student, teacher and DINO centre
        torch.testing.assert_close(resumed_weights[name], tensor, atol=0, rtol=0, msg=name)
    reference_results = json.loads((reference / "pretraining_results.json").read_text())
    resumed_results = json.loads((killed / "pretraining_results.json").read_text())
    assert resumed_results["pretrained"] == reference_results["pretrained"]


# --- the non-finite-loss guard ---------------------------------------------------------------------------------


class InjectNaN(TrainerCallback):
    """Sets one classifier weight to NaN after optimizer step `step`: the next loss is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.classifier.weight[0, 0] = float("nan")


def test_non_finite_loss_stops_training_without_saving_the_diverged_state(tmp_path):
    # Trainer's default logging_nan_inf_filter hides the NaN losses from the log; the weights show them.
    args = parse_args(
        [*DIGITS_RUN, "--output_dir", str(tmp_path), "--save_steps", "2", "--save_total_limit", "1", "--max_steps", "8"]
    )
    trainer = build_trainer(*args)
    trainer.add_callback(InjectNaN(step=5))
    with pytest.raises(NonFiniteLossError, match="diverged at step 6"):
        trainer.train()
    assert trainer.state.global_step == 6
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4"]  # not rotated away
    assert not (tmp_path / "model.safetensors").exists()
    good = AutoModelForImageClassification.from_pretrained(tmp_path / "checkpoint-4")
    assert all(torch.isfinite(parameter).all() for parameter in good.parameters())


@pytest.mark.parametrize(
    ("logs", "fp16", "stops"),
    [
        ({"loss": float("nan")}, False, True),
        ({"loss": float("inf")}, True, True),
        ({"loss": 1.0, "grad_norm": float("inf")}, False, True),
        ({"loss": 1.0, "grad_norm": float("inf")}, True, False),  # fp16 loss scaling skips such steps by design
        ({"loss": 1.0, "grad_norm": 3.0}, False, False),
    ],
)
def test_guard_reads_the_logged_loss_and_gradient_norm(logs, fp16, stops):
    guard = NonFiniteLossCallback()
    args, state, control = SimpleNamespace(fp16=fp16, output_dir="out"), TrainerState(), TrainerControl()
    state.global_step = 7
    control.should_save = True
    guard.on_log(args, state, control, logs=logs)
    assert control.should_training_stop is stops and control.should_save is not stops
    if stops:
        guard.on_epoch_end(args, state, control)
        assert control.should_training_stop and not control.should_save
        with pytest.raises(NonFiniteLossError, match=r"step 7: logged (loss|grad_norm) = (nan|inf)"):
            guard.on_train_end(args, state, control)
    else:
        guard.on_train_end(args, state, control)


def test_the_recipe_raises_on_divergence_and_does_not_save_the_model(tmp_path):
    args = digits_args(tmp_path, "--learning_rate", "1e12", "--max_grad_norm", "0", "--save_strategy", "no")
    with pytest.raises(NonFiniteLossError, match=r"diverged at step \d+"):
        run(*args)
    assert not (tmp_path / "model.safetensors").exists()
    assert not (tmp_path / "all_results.json").exists()


def test_resume_arguments_are_checked(tmp_path):
    trainer = build_trainer(*digits_args(tmp_path, "--max_steps", "1", "--save_strategy", "no"))
    with pytest.raises(ValueError, match="no complete checkpoint to resume from"):
        trainer.train(resume_from_checkpoint="last")
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(IncompleteCheckpointError, match="its save was interrupted"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    trainer.train(resume_from_checkpoint="auto")  # nothing complete to resume from: a fresh start
    assert trainer.state.global_step == 1
    assert np.isfinite(trainer.state.log_history[-1]["train_loss"])
