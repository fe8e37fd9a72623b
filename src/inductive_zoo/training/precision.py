"""The training precision a recipe runs in: `--precision auto` (every recipe's default) picks bf16 autocast where the
machine computes bf16 natively and fp32 elsewhere; `bf16` and `fp32` force one.

Why by capability: bf16 autocast speeds up the zoo's transformers on a CPU with AMX or AVX-512 BF16 and on a CUDA GPU
with bf16, but on a CPU without native bf16 (AVX2 only) oneDNN emulates it and a training step ran about 9x slower
than fp32 (training/RESULTS.md, "Precision by capability"). The choice is made before `TrainingArguments` is built,
by rewriting the command line (`--bf16`, and `--use_cpu` where bf16 runs on the CPU, which `Trainer` requires), so
that `TrainingArguments` validates the result as if the user had typed it.
"""

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run uses (`"bf16"` or `"fp32"`), what was asked for, and why."""

    precision: str
    requested: str
    reason: str

    def describe(self) -> str:
        return f"{self.precision} ({self.requested}: {self.reason})"


def cpu_bf16_instructions() -> str | None:
    """The native bf16 instructions of this CPU that oneDNN uses (`"AMX"`, `"AVX-512 BF16"`), or `None`."""
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX-512 BF16"
    return None


def cpu_model_name() -> str:
    """The CPU's model name as Linux reports it (`/proc/cpuinfo`), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def choose_precision(requested: str = "auto", use_cuda: bool | None = None) -> PrecisionChoice:
    """The precision for `requested` (one of `PRECISIONS`) on this machine; `use_cuda` says whether training runs
    on a CUDA GPU (default: whether one is available).

    `auto` is bf16 on a CUDA GPU that supports it and on a CPU with native bf16 (`cpu_bf16_instructions`), fp32
    elsewhere.

    Raises:
        ValueError: `requested` is not one of `PRECISIONS`.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, requested, "set by the user")
    if use_cuda is None:
        use_cuda = torch.cuda.is_available()
    if use_cuda:
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice("bf16", "auto", f"{torch.cuda.get_device_name()} computes bf16")
        return PrecisionChoice("fp32", "auto", f"{torch.cuda.get_device_name()} has no bf16")
    instructions = cpu_bf16_instructions()
    capability = torch.backends.cpu.get_cpu_capability()
    if instructions is not None:
        return PrecisionChoice("bf16", "auto", f"the CPU has {instructions} (capability {capability})")
    return PrecisionChoice("fp32", "auto", f"the CPU has no native bf16 (capability {capability})")


def _precision_arguments(argv: list[str]) -> tuple[str, list[str]]:
    """The precision the last of `--precision VALUE` and `--bf16 [VALUE]` in `argv` asks for (`--bf16 true` is
    `bf16`, `--bf16 false` is `fp32`; `auto` when neither is given), and `argv` without them. Either may be spelled
    `--name=VALUE`; the last one wins, as for any argument, so a user's argument overrides the recipe's."""
    requested, rest, position = "auto", [], 0
    while position < len(argv):
        item = argv[position]
        name, equals, value = item.partition("=")
        if name not in ("--precision", "--bf16"):
            rest.append(item)
            position += 1
            continue
        position += 1
        if not equals:
            following = argv[position] if position < len(argv) else None
            if name == "--bf16" and (following is None or following.startswith("--")):
                value = "true"  # a bare flag
            elif following is None:
                raise ValueError(f"{name} needs a value")
            else:
                value, position = following, position + 1
        requested = value if name == "--precision" else ("bf16" if _truthy(value, "bf16") else "fp32")
    return requested, rest


def _truthy(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"--{name} must be true or false, got {value!r}")


def resolve_precision_arguments(argv: list[str], use_cuda: bool | None = None) -> tuple[list[str], PrecisionChoice]:
    """`argv` with `--precision` (and `--bf16`) resolved into `--bf16 true|false`, plus `--use_cpu true` where bf16
    runs on the CPU (`Trainer` requires it there), and the choice (`choose_precision`). `use_cuda` defaults to a
    CUDA GPU being available and not turned off by `--use_cpu true`.

    Raises:
        ValueError: an unknown precision, or a `--bf16` value that is not a boolean.
    """
    requested, rest = _precision_arguments(argv)
    if use_cuda is None:
        use_cpu = [rest[i + 1] for i, item in enumerate(rest[:-1]) if item == "--use_cpu"]
        use_cuda = torch.cuda.is_available() and not (use_cpu and _truthy(use_cpu[-1], "use_cpu"))
    choice = choose_precision(requested, use_cuda)
    arguments = [*rest, "--bf16", "true" if choice.precision == "bf16" else "false"]
    if choice.precision == "bf16" and not use_cuda:
        arguments += ["--use_cpu", "true"]
    return arguments, choice
