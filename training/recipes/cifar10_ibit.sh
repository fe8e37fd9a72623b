#!/usr/bin/env bash
# Usage: training/recipes/cifar10_ibit.sh [extra recipe arguments, e.g. --train_fraction 0.1 --num_train_epochs 20]
# DATASET (default uoft-cs/cifar10; a local copy such as ../shared/datasets/cifar10 works) and OUTPUT_DIR may be set.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
DATASET=${DATASET:-uoft-cs/cifar10}
# IBiT from scratch on CIFAR-10, 100 epochs, AdamW + cosine (DeiT-style, without distillation or mixup).
"$PYTHON" training/run_image_classification.py --dataset "$DATASET" \
    --model_type ibit --preset tiny-patch4-32 \
    --output_dir "${OUTPUT_DIR:-outputs/cifar10-ibit}" --do_train --do_eval --num_train_epochs 100 \
    --per_device_train_batch_size 128 --per_device_eval_batch_size 500 \
    --optim adamw_torch --learning_rate 1e-3 --weight_decay 0.05 --lr_scheduler_type cosine --warmup_steps 0.05 \
    --eval_strategy epoch --save_strategy epoch --save_total_limit 2 --logging_steps 50 --report_to none "$@"
