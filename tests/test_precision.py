"""`--precision auto` follows the machine's bf16 capability (mocked both ways), on the CPU and on a CUDA GPU; an
explicit choice or `--bf16` wins; bad values are refused with the option's name."""

import pytest
import torch

from inductive_zoo.training.image_classification import parse_args
from inductive_zoo.training.precision import choose_precision, resolve_precision_arguments


def cpu_with(monkeypatch, amx: bool, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected", "instructions"),
    [(True, True, "bf16", "AMX"), (False, True, "bf16", "AVX-512 BF16"), (False, False, "fp32", "no native bf16")],
)
def test_auto_follows_the_cpu_capability(monkeypatch, amx, avx512_bf16, expected, instructions):
    cpu_with(monkeypatch, amx, avx512_bf16)
    choice = choose_precision("auto")
    assert choice.precision == expected
    assert instructions in choice.reason
    assert choice.describe().startswith(f"{expected} (auto: ")


@pytest.mark.parametrize("bf16_supported", [True, False])
def test_auto_follows_the_gpu_capability(monkeypatch, bf16_supported):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Mock GPU")
    choice = choose_precision("auto", use_cuda=True)
    assert choice.precision == ("bf16" if bf16_supported else "fp32")
    assert "Mock GPU" in choice.reason


def test_explicit_precision_wins_over_the_capability(monkeypatch):
    cpu_with(monkeypatch, amx=False, avx512_bf16=False)
    assert choose_precision("bf16").precision == "bf16"
    cpu_with(monkeypatch, amx=True, avx512_bf16=True)
    assert choose_precision("fp32").precision == "fp32"


def test_resolved_arguments_let_trainer_run_bf16_on_the_cpu(monkeypatch):
    cpu_with(monkeypatch, amx=False, avx512_bf16=True)
    arguments, choice = resolve_precision_arguments(["--output_dir", "x", "--precision", "auto"])
    assert arguments == ["--output_dir", "x", "--bf16", "true", "--use_cpu", "true"]
    assert choice.requested == "auto"
    cpu_with(monkeypatch, amx=False, avx512_bf16=False)
    arguments, choice = resolve_precision_arguments(["--output_dir", "x"])
    assert arguments == ["--output_dir", "x", "--bf16", "false"]


def test_the_last_precision_argument_wins(monkeypatch):
    cpu_with(monkeypatch, amx=True, avx512_bf16=True)
    # A recipe's `--precision auto` first, then the user's `--bf16 false` (or the other way round).
    assert resolve_precision_arguments(["--precision", "auto", "--bf16", "false"])[1].precision == "fp32"
    assert resolve_precision_arguments(["--bf16=false", "--precision=auto"])[1].precision == "bf16"
    assert resolve_precision_arguments(["--precision", "fp32", "--bf16"])[1].precision == "bf16"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--precision", "fp16"], r"precision must be one of \('auto', 'bf16', 'fp32'\), got 'fp16'"),
        (["--bf16", "maybe"], r"--bf16 must be true or false, got 'maybe'"),
        (["--precision"], r"--precision needs a value"),
    ],
)
def test_bad_precision_arguments_are_refused_by_name(argv, message):
    with pytest.raises(ValueError, match=message):
        resolve_precision_arguments(argv, use_cuda=False)


@pytest.mark.parametrize("native", [True, False])
def test_a_recipe_runs_in_the_precision_the_machine_is_fast_at(monkeypatch, tmp_path, native):
    cpu_with(monkeypatch, amx=False, avx512_bf16=native)
    model_args, _, training_args = parse_args(
        ["--recipe", "cifar10-10pct-prs-vit", "--dataset", "digits", "--output_dir", str(tmp_path)]
    )
    assert training_args.bf16 is native
    assert model_args.precision == "auto"
    assert model_args.precision_choice.precision == ("bf16" if native else "fp32")
    _, _, training_args = parse_args(
        ["--recipe", "cifar10-10pct-prs-vit", "--output_dir", str(tmp_path), "--precision", "fp32"]
    )
    assert training_args.bf16 is False


@pytest.mark.parametrize("native", [True, False])
def test_pretraining_also_runs_in_the_precision_the_machine_is_fast_at(monkeypatch, tmp_path, native):
    from inductive_zoo.training.pretraining import parse_args as parse_pretraining_args

    cpu_with(monkeypatch, amx=native, avx512_bf16=False)
    _, training_args = parse_pretraining_args(["--output_dir", str(tmp_path)])
    assert training_args.bf16 is native
    _, training_args = parse_pretraining_args(["--output_dir", str(tmp_path), "--precision", "fp32"])
    assert training_args.bf16 is False
