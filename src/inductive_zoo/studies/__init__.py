"""The papers' experiments as runnable studies, each writing a table (Markdown + CSV), a plot (PNG) and the command
and environment beside them: `inductive-zoo study NAME ...` with NAME one of data-efficiency, fourier,
attention-maps, isotropic-bias, prs-schedule, transfer; the table of the recipe runs, `inductive-zoo study
zoo-table`; and the table of the released checkpoints, `inductive-zoo study release-table`."""

import sys
from importlib import import_module

# Study name -> module of this package whose `main(argv)` runs it (imported on use: each pulls in its own stack).
STUDIES = {
    "data-efficiency": "data_efficiency",
    "fourier": "fourier",
    "attention-maps": "attention_maps",
    "isotropic-bias": "isotropic_bias",
    "prs-schedule": "prs_schedule",
    "transfer": "transfer",
    "zoo-table": "zoo_table",
    "release-table": "release_table",
}


def main(argv: list[str] | None = None) -> None:
    """Runs the study named by the first argument with the rest of the arguments."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in STUDIES:
        raise SystemExit(f"usage: inductive-zoo study {{{','.join(STUDIES)}}} [--help | arguments]")
    import_module(f".{STUDIES[argv[0]]}", __name__).main(argv[1:])
