#!/usr/bin/env bash
# Usage: training/recipes/cifar10_cada_resnet.sh [extra recipe arguments, e.g. --train_fraction 0.1 --num_train_epochs 20]
# DATASET (default uoft-cs/cifar10; a local copy such as ../shared/datasets/cifar10 works) and OUTPUT_DIR may be set.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
DATASET=${DATASET:-uoft-cs/cifar10}
# CADA-ResNet-26 from scratch on CIFAR-10, 200 epochs, SGD + cosine (the standard ResNet recipe).
# Ablations: --config_overrides invariance=strict | mixer=conv | cada_in_downsampling=false | num_bases=8,kernel_size=5
"$PYTHON" training/run_image_classification.py --dataset "$DATASET" \
    --model_type cada_resnet --preset resnet26-32 \
    --output_dir "${OUTPUT_DIR:-outputs/cifar10-cada_resnet}" --do_train --do_eval --num_train_epochs 200 \
    --per_device_train_batch_size 128 --per_device_eval_batch_size 500 \
    --optim sgd --optim_args "momentum=0.9,nesterov=true" --learning_rate 0.1 --weight_decay 5e-4 \
    --lr_scheduler_type cosine --warmup_steps 0.02 --eval_strategy epoch --save_strategy epoch \
    --save_total_limit 2 --logging_steps 50 --report_to none "$@"
