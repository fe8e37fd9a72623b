"""Supervised image classification with `Trainer`, in the style of transformers' example scripts.

    python training/run_image_classification.py --dataset ../shared/datasets/cifar10 \
        --model_type iso_transformer --preset tiny-patch4-32 --train_fraction 0.1 \
        --output_dir outputs/cifar10-iso-transformer --do_train --do_eval --num_train_epochs 50 \
        --per_device_train_batch_size 128 --learning_rate 1e-3 --weight_decay 0.05 \
        --lr_scheduler_type cosine --warmup_steps 0.05 --eval_strategy epoch --save_strategy epoch \
        --save_total_limit 2 --report_to none

All arguments: `--help`. The same recipe is `inductive-zoo train ...`; resume with `--resume_from_checkpoint DIR`.
"""

from inductive_zoo.training.image_classification import main

if __name__ == "__main__":
    main()
