"""Self-supervised objectives: masked image modeling, DINO self-distillation, SimCLR contrastive learning."""
