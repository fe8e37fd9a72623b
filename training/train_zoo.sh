#!/usr/bin/env bash
# Trains the zoo's rows one after another, each resumable: finished runs (with all_results.json) are skipped, an
# interrupted one resumes from its last complete checkpoint. Usage, from the project root:
#   training/train_zoo.sh RECIPE[:SEED] ...      e.g. training/train_zoo.sh cifar10-10pct-prs-vit cifar10-10pct-vit:1
# DATASET (default ../shared/datasets/cifar10), RUNS (default outputs/zoo) and PYTHON may be set; extra arguments for
# every run go in EXTRA_ARGS. Logs: RUNS/RECIPE-sSEED.log. Then: inductive-zoo study zoo-table --runs RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATASET=${DATASET:-../shared/datasets/cifar10}
RUNS=${RUNS:-outputs/zoo}
mkdir -p "$RUNS"
for item in "$@"; do
    recipe=${item%%:*}
    seed=0
    [[ "$item" == *:* ]] && seed=${item##*:}
    output_dir="$RUNS/$recipe-s$seed"
    if [[ -f "$output_dir/all_results.json" ]]; then
        echo "$recipe seed $seed: finished, skipped"
        continue
    fi
    echo "$recipe seed $seed: training into $output_dir"
    # shellcheck disable=SC2086
    "$PYTHON" -m inductive_zoo.cli train --recipe "$recipe" --dataset "$DATASET" --output_dir "$output_dir" \
        --seed "$seed" --resume_from_checkpoint auto ${EXTRA_ARGS:-} > "$RUNS/$recipe-s$seed.log" 2>&1
done
