"""Self-supervised pre-training (MIM, DINO or SimCLR) -> k-NN / linear probe -> optional fine-tuning.

    python training/run_pretraining.py --objective mim --model_type iso_convnet --preset micro-patch4-32 \
        --dataset ../shared/datasets/cifar10 --train_fraction 0.1 --output_dir outputs/mim-convnet \
        --num_train_epochs 10 --per_device_train_batch_size 128 --learning_rate 1e-3 --weight_decay 0.05 \
        --lr_scheduler_type cosine --warmup_steps 0.05 --save_strategy epoch --report_to none --finetune_epochs 5

All arguments: `--help`. The same recipe is `inductive-zoo pretrain ...`; results go to
`OUTPUT_DIR/pretraining_results.json`.
"""

from inductive_zoo.training.pretraining import main

if __name__ == "__main__":
    main()
