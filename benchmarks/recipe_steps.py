"""The training step of each recipe as it runs, on this machine: its data path and its model step in fp32 and bf16,
what `--precision auto` picks here, and the share of a step spent outside the model.

    python benchmarks/recipe_steps.py [--recipes cifar10-10pct-prs-vit,cifar10-10pct-fast-convnet] [--steps 5]

Each recipe is built by `build_trainer` exactly as `inductive-zoo train --recipe NAME` builds it (its model, batch
size, augmentation, channels-last, whitening, optimiser and loss), on the local CIFAR-10 copy. Per recipe:

- data: ms per batch to fetch one training batch through the recipe's DataLoader (decode, or read the kept decoded
  images, batched augmentation, collation), timed over `--steps` batches after one epoch's first batches;
- step: ms per optimizer step (forward, loss, backward, update) on those batches, in fp32 and in bf16 autocast,
  medians of `--rounds` interleaved rounds;
- auto: what `--precision auto` chooses on this machine, and whether that is the faster of the two;
- outside: data / (data + the chosen step): the share of a training step not spent in the model.

The header names the CPU, its capability and its native bf16 instructions. Threads: torch's default (all cores), or
`--threads`.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from inductive_zoo.training.image_classification import build_trainer, parse_args
from inductive_zoo.training.precision import choose_precision, cpu_bf16_instructions, cpu_model_name

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"
DEFAULT_RECIPES = (
    "cifar10-10pct-fast-convnet,cifar10-10pct-iso-convnet,cifar10-10pct-prs-vit,cifar10-10pct-convit,"
    "cifar10-10pct-ibit,cifar10-10pct-iso-transformer,cifar10-10pct-resnet18"
)


def timed_batches(trainer, count: int) -> tuple[list[dict], float]:
    """`count` training batches of the trainer's DataLoader (after a first one, which may decode images) and the
    mean ms to fetch one."""
    loader = iter(trainer.get_train_dataloader())
    next(loader)
    batches, start = [], time.perf_counter()
    for _ in range(count):
        batches.append(next(loader))
    return batches, (time.perf_counter() - start) * 1000 / count


def step_fn(trainer, batches: list[dict], bf16: bool):
    """One optimizer step of the recipe's model, optimiser and loss per call, cycling through `batches`."""
    model = trainer.model
    model.train()
    trainer.create_optimizer()
    optimizer = trainer.optimizer
    position = [0]

    def step() -> None:
        inputs = batches[position[0] % len(batches)]
        position[0] += 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = trainer.compute_loss(model, dict(inputs))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def milliseconds(step, steps: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) * 1000 / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--recipes", default=DEFAULT_RECIPES)
    parser.add_argument("--steps", type=int, default=4, help="timed steps (and data batches) per recipe and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    auto = choose_precision("auto", use_cuda=False)
    print(
        f"CPU: {cpu_model_name()}, capability {torch.backends.cpu.get_cpu_capability()}, native bf16: "
        f"{cpu_bf16_instructions() or 'none'}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"--precision auto picks {auto.precision}\n"
    )
    rows = []
    for name in args.recipes.split(","):
        trainers = {}
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            argv = ["--recipe", name, "--dataset", args.dataset, "--output_dir", "/tmp/recipe-steps"]
            trainers[precision] = build_trainer(*parse_args([*argv, "--precision", precision]))
        batches, data_ms = timed_batches(trainers["fp32"], args.steps)
        steps = {precision: step_fn(trainer, batches, precision == "bf16") for precision, trainer in trainers.items()}
        times: dict[str, list[float]] = {precision: [] for precision in steps}
        for _ in range(args.rounds):
            for precision, step in steps.items():
                times[precision].append(milliseconds(step, args.steps))
        step_ms = {precision: statistics.median(values) for precision, values in times.items()}
        batch_size = len(batches[0]["labels"])
        chosen = step_ms[auto.precision]
        faster = "yes" if chosen <= min(step_ms.values()) else "no"
        outside = data_ms / (data_ms + chosen)
        rows.append(
            f"| `{name}` | {batch_size} | {data_ms:.0f} | {step_ms['fp32']:.0f} | {step_ms['bf16']:.0f} | "
            f"{step_ms['fp32'] / step_ms['bf16']:.2f}x | {auto.precision} | {faster} | {outside:.1%} |"
        )
    print("| recipe | batch | data ms | fp32 step ms | bf16 step ms | bf16 gain | auto | auto is faster | outside |")
    print("|---|---:|---:|---:|---:|---:|---|---|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
