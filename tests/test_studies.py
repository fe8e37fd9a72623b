"""The runnable studies: data efficiency (resumable cells), Fourier analysis of feature maps, attention maps."""

import csv
import json
import math
import re
from collections import Counter

import pytest
import torch
from conftest import tiny_config
from PIL import Image

from inductive_zoo import ConViTConfig, IsoTransformerConfig
from inductive_zoo.analysis import attention_rollout
from inductive_zoo.studies import attention_maps, data_efficiency, fourier
from inductive_zoo.studies.inputs import load_model
from inductive_zoo.training.image_classification import CONFIG_CLASSES

# Fourier analysis


def test_relative_log_amplitude_separates_smooth_from_high_frequency_maps():
    grid = 8
    rows, columns = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    checkerboard = ((rows + columns) % 2 * 2 - 1).float().expand(2, 3, grid, grid)
    constant = torch.full((2, 3, grid, grid), 3.0)
    smooth = torch.cos(2 * math.pi * rows / grid).float().expand(2, 3, grid, grid) + 1

    checker_curve = fourier.relative_log_amplitude(checkerboard)
    assert checker_curve.shape == (grid // 2 + 1,)
    assert checker_curve[0] == 0
    # All of a zero-mean checkerboard's energy is at pi: far above frequency 0.
    assert checker_curve[-1] > 10
    # A constant has nothing but frequency 0.
    assert (fourier.relative_log_amplitude(constant)[1:] < -10).all()
    # A slow cosine plus its mean: the diagonal carries only frequency 0, so every other point is far below it.
    assert fourier.relative_log_amplitude(smooth)[-1] < -10
    noise = fourier.relative_log_amplitude(torch.randn(4, 16, grid, grid, generator=torch.Generator().manual_seed(0)))
    assert noise[-1].abs() < 1.5  # white noise: a flat spectrum
    assert torch.allclose(fourier.normalised_frequencies(grid), torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))
    with pytest.raises(ValueError, match="square"):
        fourier.relative_log_amplitude(torch.randn(1, 1, 4, 6))


def test_feature_maps_drop_class_tokens_and_keep_cnn_stages(pixels):
    torch.manual_seed(0)
    iso_config = tiny_config(IsoTransformerConfig, pooling="cls")
    iso = load_model_from_config(iso_config)
    maps = fourier.feature_maps(iso, pixels)
    assert len(maps) == iso_config.num_hidden_layers + 1
    hidden = iso(pixel_values=pixels, output_hidden_states=True).hidden_states
    assert all(feature_map.shape == (3, iso_config.hidden_size, 4, 4) for feature_map in maps)
    # Token (row r, column c) of the patches, i.e. token 1 + 4 r + c, is pixel (r, c) of the map.
    assert torch.allclose(maps[-1][:, :, 2, 1], hidden[-1][:, 1 + 4 * 2 + 1])

    convit = load_model_from_config(tiny_config(ConViTConfig))  # the class token joins after the GPSA block
    assert all(feature_map.shape[-2:] == (4, 4) for feature_map in fourier.feature_maps(convit, pixels))


def load_model_from_config(config):
    from transformers import AutoModelForImageClassification

    return AutoModelForImageClassification.from_config(config).eval()


def test_fourier_study_writes_table_csv_and_plots(tmp_path):
    output_dir = tmp_path / "fourier"
    results = fourier.main(
        [
            "--model", "ViT=iso_transformer:micro-patch4-32",
            "--model", "ConvNet=iso_convnet:micro-patch4-32:num_hidden_layers=2",
            "--dataset", "digits", "--num_images", "8", "--output_dir", str(output_dir),
        ]
    )  # fmt: skip
    assert [result.label for result in results] == ["ViT", "ConvNet"]
    with open(output_dir / "fourier.csv") as handle:
        rows = list(csv.DictReader(handle))
    points = 5  # 8x8 grid: frequencies 0, pi/4, ..., pi
    assert len(rows) == (4 + 1) * points + (2 + 1) * points
    assert {row["model"] for row in rows} == {"ViT", "ConvNet"}
    high = [float(row["relative_log_amplitude"]) for row in rows if row["frequency_over_pi"] == "1.0000"]
    assert high == pytest.approx(results[0].high_frequency + results[1].high_frequency, abs=1e-4)
    assert "| ConvNet |" in (output_dir / "fourier.md").read_text()
    for name in ("fourier_curves.png", "fourier_depth.png"):
        assert Image.open(output_dir / name).size[0] > 300
    assert (output_dir / "command.txt").read_text().startswith("inductive-zoo study fourier --model ViT=")
    assert "torch" in json.loads((output_dir / "environment.json").read_text())


# Attention maps


def test_head_maps_follow_the_class_token_or_the_mean_query():
    grid = 3
    attention = torch.zeros(1, 2, 1 + grid * grid, 1 + grid * grid)
    attention[0, 0, 0, 1 + 5] = 1.0  # head 0: the class token looks at patch 5 = (row 1, column 2)
    attention[0, 1, 0, 1 + 0] = -2.0  # head 1: signed (IBiT), patch 0
    maps = attention_maps.head_maps(attention, grid)
    assert maps.shape == (1, 2, grid, grid)
    assert maps[0, 0, 1, 2] == 1 and maps[0, 0].sum() == 1
    assert maps[0, 1, 0, 0] == 1 and maps[0, 1].sum() == 1
    patches_only = torch.zeros(1, 1, grid * grid, grid * grid)
    patches_only[0, 0, :, 4] = 1.0  # every query looks at the centre
    assert attention_maps.head_maps(patches_only, grid)[0, 0, 1, 1] == 1


@pytest.mark.parametrize("variant", ["iso_transformer", "prs_vit", "ibit"])
def test_rollout_of_zoo_models_reads_their_row_stochastic_attention(variant, pixels):
    torch.manual_seed(0)
    model = load_model(f"{variant}:micro-patch4-32")
    pixel_values = torch.nn.functional.interpolate(pixels, size=32)
    attentions = attention_maps.attention_outputs(model, pixel_values)
    assert len(attentions) == model.config.num_hidden_layers  # PRS-ViT's convolutions were switched to attention
    if variant != "ibit":  # softmax attention (PRS-ViT: the effective mixing matrix); IBiT's masked maps are signed
        for attention in attentions:
            torch.testing.assert_close(attention.sum(dim=-1), torch.ones(attention.shape[:-1]))
    rollout = attention_rollout(attentions)
    tokens = attentions[-1].shape[-1]
    assert rollout.shape == (pixels.shape[0], tokens, tokens) and torch.isfinite(rollout).all()
    # The flow depends on the maps: not the identity the residual path alone would give.
    assert not torch.allclose(rollout, torch.eye(tokens).expand_as(rollout), atol=1e-3)


def test_attention_map_grid_has_a_panel_per_image_and_column(tmp_path):
    output_dir = tmp_path / "attention"
    written = attention_maps.main(
        [
            "--model", "ViT=iso_transformer:micro-patch4-32",  # 3 heads
            "--model", "ConViT=convit:micro-patch4-32",  # 4 heads
            "--dataset", "digits", "--num_images", "2", "--cell_inches", "1.0", "--output_dir", str(output_dir),
        ]
    )  # fmt: skip
    assert [path.name for path in written] == ["attention_ViT.png", "attention_ConViT.png"]
    assert Image.open(written[0]).size == ((2 + 3) * 100, 2 * 100)
    assert Image.open(written[1]).size == ((2 + 4) * 100, 2 * 100)
    with pytest.raises(ValueError, match="no attention maps"):
        attention_maps.attention_outputs(load_model("iso_convnet:micro-patch4-32"), torch.zeros(1, 3, 32, 32))


# Data efficiency


PRS = "cifar10-10pct-fast-prs-vit"
CONTROL = "cifar10-10pct-fast-iso-transformer"


def test_a_cell_sees_the_recipe_s_images_and_prs_conv_epochs_follow_the_cell():
    args = data_efficiency.parse_study_args(["--recipes", PRS, "--", "--hflip_prob", "0"])
    counts = Counter({label: 5000 for label in range(10)})
    # By default a cell sees what the recipe's 10 % row sees: 50 epochs of 5,000 images, at batch 128.
    arguments = data_efficiency.cell_arguments(data_efficiency.Cell(PRS, 0.01, 1), args, counts)
    assert arguments[:2] == ["--recipe", PRS] and arguments[-2:] == ["--hflip_prob", "0"]
    assert arguments[arguments.index("--max_steps") + 1] == str(math.ceil(250_000 / 128))
    assert arguments[arguments.index("--train_fraction") + 1] == "0.01"
    assert arguments[arguments.index("--subset_seed") + 1] == "1"
    # 500 images are 4 batches: 1954 steps are 489 epochs, half of them (the recipe's 25 of 50) as convolutions.
    assert arguments[arguments.index("--conv_epochs") + 1] == str(round(0.5 * math.ceil(1954 / 4)))
    arguments = data_efficiency.cell_arguments(data_efficiency.Cell(PRS, 1.0, 0, conv_share=0.25), args, counts)
    assert arguments[arguments.index("--conv_epochs") + 1] == str(round(0.25 * math.ceil(1954 / 391)))
    assert "--conv_epochs" not in data_efficiency.cell_arguments(data_efficiency.Cell(CONTROL, 0.1, 0), args, counts)


def test_the_study_draws_two_seeds_where_data_is_small_and_prs_schedule_cells_where_asked():
    args = data_efficiency.parse_study_args(
        ["--recipes", f"{PRS},{CONTROL}", "--fractions", "0.01,0.5", "--prs_conv_fractions", "0,0.25"]
    )
    names = [cell.name for cell in data_efficiency.study_cells(args)]
    assert len(names) == len(set(names))
    assert f"{CONTROL}-f0.01-s1" in names and f"{CONTROL}-f0.5-s1" not in names
    assert f"{PRS}-f0.5-s0-c0.25" in names and f"{PRS}-f0.01-s0-c0.25" not in names
    assert not any(name.startswith(CONTROL) and "-c" in name for name in names)
    with pytest.raises(SystemExit):
        data_efficiency.parse_study_args(["--recipes", "no-such-recipe"])


def fake_training(log: list):
    """A stand-in for `train_cell` that records its calls and returns a plausible record without training."""

    def train(cell, arguments, run_dir):
        log.append(cell.name)
        return {"top1": 0.1 * len(log), "top1_tta": None, "top5": 0.9, "epochs": 1.0, "train_runtime_s": 1.0}

    return train


def test_interrupted_study_resumes_without_retraining_finished_cells_and_refuses_changed_ones(tmp_path, monkeypatch):
    argv = ["--dataset", "digits", "--recipes", f"{CONTROL},{PRS}", "--fractions", "0.1,0.5"]
    argv += ["--spread_seeds", "0,1", "--spread_up_to", "0.1", "--output_dir", str(tmp_path)]
    trained: list[str] = []
    training = fake_training(trained)

    def interrupted(cell, arguments, run_dir):
        if len(trained) == 3:
            raise KeyboardInterrupt
        return training(cell, arguments, run_dir)

    monkeypatch.setattr(data_efficiency, "train_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data_efficiency.main(argv)
    assert len(list((tmp_path / "cells").glob("*.json"))) == 3
    assert not list((tmp_path / "cells").glob(".*"))  # no temporary file left behind

    monkeypatch.setattr(data_efficiency, "train_cell", training)
    markdown = data_efficiency.main(argv)
    assert len(trained) == 6 and len(set(trained)) == 6  # the 3 finished cells were not trained again
    data_efficiency.main(argv)
    assert len(trained) == 6
    with open(tmp_path / "results.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    # IsoTransformer at 0.1: seeds 0 and 1 were the first two trainings, top-1 0.1 and 0.2.
    assert "| IsoTransformer (`cifar10-10pct-fast-iso-transformer`) | 0.1500 ± 0.0707 (n=2) |" in markdown
    assert "| PRS-ViT - IsoTransformer | +0.3000 |" in markdown  # (0.4 + 0.5) / 2 - 0.15 at 0.1
    assert data_efficiency.main([*argv, "--summarise_only"]) == markdown
    with pytest.raises(ValueError, match=rf"cell {CONTROL}-f0.1-s0 .* was trained with"):
        data_efficiency.main([*argv, "--images_seen", "7"])


def test_data_efficiency_study_trains_a_cell_through_its_recipe_and_resumes_it(tmp_path, monkeypatch):
    from inductive_zoo.training.checkpointing import ResumableTrainer

    output_dir = tmp_path / "study"
    argv = [
        "--dataset", "digits", "--recipes", "cifar10-10pct-fast-iso-convnet", "--fractions", "0.2",
        "--spread_seeds", "0", "--images_seen", "512", "--checkpoints", "2", "--max_eval_samples", "32",
        "--output_dir", str(output_dir), "--", "--config_overrides", "hidden_size=16,num_hidden_layers=1",
        "--logging_steps", "1",
    ]  # fmt: skip
    # The first try is killed in its third step, after the checkpoint of step 2.
    training_step = ResumableTrainer.training_step

    def killed_in_step_3(trainer, *args, **kwargs):
        if trainer.state.global_step == 2:
            raise KeyboardInterrupt
        return training_step(trainer, *args, **kwargs)

    monkeypatch.setattr(ResumableTrainer, "training_step", killed_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        data_efficiency.main(argv)
    name = "cifar10-10pct-fast-iso-convnet-f0.2-s0"
    run_dir = output_dir / "runs" / name
    assert (run_dir / "checkpoint-2").is_dir() and not (output_dir / "cells" / f"{name}.json").exists()
    steps_trained = []

    def counted(trainer, *args, **kwargs):
        steps_trained.append(trainer.state.global_step + 1)
        return training_step(trainer, *args, **kwargs)

    monkeypatch.setattr(ResumableTrainer, "training_step", counted)
    data_efficiency.main(argv)
    assert steps_trained == [3, 4]  # resumed from the checkpoint of step 2
    cell = json.loads((output_dir / "cells" / f"{name}.json").read_text())
    # Scored on the 32 evaluation images: counts out of 32, and top-5 contains top-1.
    assert cell["top1"] * 32 == pytest.approx(round(cell["top1"] * 32)) and cell["top1"] <= cell["top5"]
    assert cell["train_images"] == 287 and cell["images_seen"] == 512
    assert cell["epochs"] == pytest.approx(4 / 3, abs=0.01)  # 4 steps of 128 over 287 images (3 batches)
    assert (run_dir / "model.safetensors").exists() and (run_dir / "checkpoint-4").is_dir()
    assert "IsoConvNet" in (output_dir / "results.md").read_text()
    assert Image.open(output_dir / "data_efficiency.png").size[0] > 0
    assert (output_dir / "command.txt").read_text().startswith("inductive-zoo study data-efficiency --dataset digits")


# Isotropic-bias study (Cazenavette & Lucey 2021)


def test_isotropic_bias_study_writes_its_table_and_plots_and_reruns_only_missing_cells(tmp_path, monkeypatch):
    from transformers import AutoModelForMaskedImageModeling

    from inductive_zoo.studies import isotropic_bias

    trained = []

    def fake_cell(args, mixer, depth):  # a saved untrained model and made-up metrics stand in for a real run
        trained.append((mixer, depth))
        config = CONFIG_CLASSES[mixer].from_preset(args.preset, num_hidden_layers=depth, mim_norm_target=True)
        AutoModelForMaskedImageModeling.from_config(config).save_pretrained(
            tmp_path / "runs" / isotropic_bias.cell_name(mixer, depth)
        )
        metrics = dict.fromkeys(isotropic_bias.COLUMNS, 0.5)
        if len(trained) == 4:
            raise KeyboardInterrupt  # killed in the middle of the last cell
        return {**metrics, "mixer": mixer, "depth": depth, "parameters": 1000 * depth}

    monkeypatch.setattr(isotropic_bias, "run_cell", fake_cell)
    argv = ["--output_dir", str(tmp_path), "--depths", "1,2", "--mixers", "iso_transformer,iso_mixer",
            "--num_reconstructions", "2"]  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        isotropic_bias.main(argv)
    assert sorted(path.name for path in (tmp_path / "cells").iterdir()) == [
        "iso_mixer-depth1.json", "iso_transformer-depth1.json", "iso_transformer-depth2.json"
    ]  # fmt: skip
    rows = isotropic_bias.main(argv)
    assert trained[4:] == [("iso_mixer", 2)]  # only the unfinished cell ran again
    assert [(row["mixer"], row["depth"]) for row in rows] == [
        ("iso_transformer", 1), ("iso_transformer", 2), ("iso_mixer", 1), ("iso_mixer", 2)
    ]  # fmt: skip
    with open(tmp_path / "results.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    assert "| MLP-Mixer | 2 | 0.00M |" in (tmp_path / "results.md").read_text()
    assert Image.open(tmp_path / "isotropic_bias.png").size == (1200, 320)
    assert Image.open(tmp_path / "reconstructions.png").size == (6 * 110, 2 * 110)  # image, masked, 4 cells
    assert "--depths 1,2" in (tmp_path / "command.txt").read_text()
    with pytest.raises(ValueError, match="--mixers must be among"):
        isotropic_bias.main(["--output_dir", str(tmp_path), "--mixers", "iso_vit"])


def test_prs_schedule_study_trains_each_cell_once_and_reports_fourier_and_diagnostics(tmp_path):
    from inductive_zoo.studies import prs_schedule

    assert [cell.name for cell in prs_schedule.schedule_cells(50, [0, 1])] == [
        "linear-E0-s0", "linear-E12-s0", "linear-E12-s1", "linear-E25-s0", "uniform-E12-s0", "uniform-E12-s1",
        "never-E0-s0",
    ]  # fmt: skip
    output_dir = tmp_path / "study"
    argv = [
        "--dataset", "digits", "--seeds", "0", "--num_images", "16", "--output_dir", str(output_dir), "--",
        "--num_train_epochs", "4", "--train_fraction", "0.05", "--per_device_train_batch_size", "32",
        "--config_overrides", "hidden_size=36,num_hidden_layers=3,intermediate_size=72,num_reparameterizable_layers=2",
        "--epoch_eval_samples", "50", "--report_to", "none",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"--cells \['linear-E9-s0'\] are not cells of this study"):
        prs_schedule.main([*argv[:8], "--cells", "linear-E9-s0", *argv[8:]])
    partial = prs_schedule.main([*argv[:8], "--cells", "never-E0-s0", *argv[8:]])
    assert partial.startswith("1 of 5 cells finished; still to train: linear-E0-s0, linear-E1-s0")
    markdown = prs_schedule.main(argv)
    cells = {path.stem: json.loads(path.read_text()) for path in (output_dir / "cells").glob("*.json")}
    assert sorted(cells) == ["linear-E0-s0", "linear-E1-s0", "linear-E2-s0", "never-E0-s0", "uniform-E1-s0"]
    assert all(len(cell["high_frequency"]) == 4 for cell in cells.values())  # embedding + 3 blocks
    # Diagnostics after every epoch for the switched blocks only: linear E=2 switches block 1 at epoch 0, block 0 at 2.
    switched = Counter(row["layer"] for row in cells["linear-E2-s0"]["diagnostics"])
    assert switched == {1: 4, 0: 2}
    assert cells["never-E0-s0"]["diagnostics"] == []
    sections = markdown.split("\n\n")
    assert sections[1].count("\n| ") == 5  # the results table: 5 rows
    assert "Claim 1" in sections[2] and "Claim 2" in sections[4] and "| linear E=2 | 0 |" in sections[7]
    stamp = (output_dir / "cells" / "never-E0-s0.json").stat().st_mtime_ns  # trained by the --cells run
    assert prs_schedule.main(argv) == markdown  # stored cells are not trained again
    assert (output_dir / "cells" / "never-E0-s0.json").stat().st_mtime_ns == stamp
    assert Image.open(output_dir / "diagnostics.png").size[0] > 0
    # Negative content heads per block, from the saved models: linear E=2 has both blocks switched, never none.
    heads = sections[-1].splitlines()
    assert [row.split(" | ")[0] for row in heads[2:]] == [
        "| linear E=0",
        "| linear E=1",
        "| linear E=2",
        "| uniform E=1",
    ]
    assert re.fullmatch(r"\| linear E=2 \| 0 \| \d/\d \| \d/\d \|", heads[4])


def test_prs_schedule_claims_state_monotonicity_seed_spread_and_the_attention_target(tmp_path):
    from inductive_zoo.studies import prs_schedule

    def record(schedule, conv_epochs, seed, top1, high_frequency, final_masses=()):
        diagnostics = [
            {"epoch": 4.0, "layer": layer, "content_weight": 0.1, "mass_outside_3x3": mass, "attention_distance": 1.2}
            for layer, mass in enumerate(final_masses)
        ]
        return {
            "schedule": schedule, "conv_epochs": conv_epochs, "seed": seed, "top1": top1, "top5": 0.9,
            "label": "never (convnet)" if schedule == "never" else f"{schedule} E={conv_epochs}",
            "high_frequency": [0.0, *high_frequency], "reparameterizable_layers": 2, "diagnostics": diagnostics,
            "negative_heads": [[seed + 1, 3] if final_masses else None, None],
        }  # fmt: skip

    records = [
        record("linear", 0, 0, 0.50, [-1.0, -1.0], [0.08, 0.09]),
        record("linear", 1, 0, 0.60, [-0.8, -0.9], [0.03, 0.07]),  # block 1 switched at epoch 1 of 4: due, too low
        record("linear", 1, 1, 0.62, [-0.8, -0.9], [0.06, 0.07]),
        record("linear", 2, 0, 0.55, [-0.6, -0.95], [0.06, 0.07]),  # block 2 goes -1.0, -0.9, -0.95: not monotone
        record("uniform", 1, 0, 0.58, [-0.7, -0.7], [0.06, 0.06]),
        record("uniform", 1, 1, 0.59, [-0.7, -0.7], [0.06, 0.06]),
        record("never", 0, 0, 0.52, [-0.5, -0.5]),
    ]
    baselines = [
        {"label": "IsoConvNet", "model_type": "iso_convnet", "top1": 0.63, "high_frequency": [0.0, -0.5, -0.5]},
        {"label": "IsoTransformer", "model_type": "iso_transformer", "top1": 0.56, "high_frequency": [0.0, -1.1, -1.1]},
    ]  # fmt: skip
    markdown = prs_schedule.summarise(records, baselines, tmp_path, epochs=4)
    assert "| 1 | -1.000 | -0.800 | -0.600 | yes | -0.500 | yes | -0.500 | -1.100 | yes | yes |" in markdown
    assert "| 2 | -1.000 | -0.900 | -0.950 | no | -0.500 | yes | -0.500 | -1.100 | yes | yes |" in markdown
    # Without `never`, no column for it; E moving a block away from it reads "no".
    away = [r for r in records if r["schedule"] != "never"] + [record("never", 0, 0, 0.5, [-1.2, -0.9])]
    assert "| 1 | -1.000 | -0.800 | -0.600 | yes | -1.200 | no |" in prs_schedule.fourier_claim(away, [], 4)
    without_never = prs_schedule.fourier_claim([r for r in records if r["schedule"] != "never"], [], 4)
    assert without_never.splitlines()[0] == "| block | linear E=0 | linear E=1 | linear E=2 | monotone in E |"
    assert (
        "- linear E=1 0.6100 ± 0.0141 (n=2) vs uniform E=1 0.5850 ± 0.0071 (n=2): +0.0250, linear beats it by more "
        "than the seed spread (0.0141)." in markdown
    )
    assert "vs never (convnet) 0.5200: +0.0900, linear beats it" in markdown
    assert "| linear E=1 | 0 | 0.030 | 0.070 | not met: block 1 |" in markdown
    assert "| linear E=1 | 1 | 2/3 | - |" in markdown and "| never (convnet) | 0 |" not in markdown.split("Heads")[1]
    assert "| linear E=1 | 1 | 0.060 | 0.070 | met |" in markdown
    assert "never (convnet) | 0 |" not in markdown.split("Attention mass")[1]  # no switched block, no row
    assert markdown == (tmp_path / "results.md").read_text()

    equal = [record("linear", 1, 0, 0.60, [-0.8, -0.9]), record("linear", 0, 0, 0.60, [-1.0, -1.0])]
    equal += [record("uniform", 1, 0, 0.61, [-0.7, -0.7]), record("never", 0, 0, 0.50, [-0.5, -0.5])]
    assert "-0.0100, one seed each, so no spread to judge it by." in prs_schedule.schedule_claim(equal, 4)


# Transfer


def test_transfer_study_starts_both_cells_alike_but_for_the_backbone_and_resumes(tmp_path):
    from transformers import AutoModel, AutoModelForImageClassification

    from inductive_zoo import IsoTransformerForImageClassification
    from inductive_zoo.data import image_processor_for
    from inductive_zoo.studies import transfer

    checkpoint = tmp_path / "cifar-classifier"  # a "released" classifier of other labels
    config = tiny_config(IsoTransformerConfig, image_size=32, num_labels=3)
    torch.manual_seed(1)
    IsoTransformerForImageClassification(config).save_pretrained(checkpoint)
    image_processor_for(32, 3).save_pretrained(checkpoint)
    output_dir = tmp_path / "study"
    argv = [
        "--checkpoints", str(checkpoint), "--train_images", "40", "--max_eval_samples", "40",
        "--output_dir", str(output_dir), "--", "--num_train_epochs", "2",
    ]  # fmt: skip
    markdown = transfer.main(argv)
    starts = {
        start: AutoModelForImageClassification.from_pretrained(output_dir / "starts" / f"cifar-classifier-{start}-s0")
        for start in transfer.STARTS
    }
    backbone = AutoModel.from_pretrained(checkpoint).state_dict()
    for name, tensor in starts["pretrained"].backbone.state_dict().items():
        torch.testing.assert_close(tensor, backbone[name], atol=0, rtol=0, msg=name)
    assert not torch.equal(starts["scratch"].backbone.state_dict()["embeddings.patch_embedding.projection.weight"],
                           backbone["embeddings.patch_embedding.projection.weight"])  # fmt: skip
    # A fresh head for digits' ten labels, drawn alike for both starts.
    assert starts["pretrained"].config.id2label == {index: str(index) for index in range(10)}
    torch.testing.assert_close(starts["pretrained"].classifier.weight, starts["scratch"].classifier.weight)
    records = [json.loads(path.read_text()) for path in sorted((output_dir / "cells").glob("*.json"))]
    assert sorted(record["start"] for record in records) == ["pretrained", "scratch"]
    assert {record["train_images"] for record in records} == {40} and {r["eval_images"] for r in records} == {40}
    assert "| checkpoint | from its backbone | from scratch | difference |" in markdown
    # Finished cells are not trained again; a changed command is refused by name.
    mtimes = [path.stat().st_mtime for path in sorted((output_dir / "cells").glob("*.json"))]
    assert transfer.main(argv) == markdown
    assert [path.stat().st_mtime for path in sorted((output_dir / "cells").glob("*.json"))] == mtimes
    with pytest.raises(ValueError, match=r"cell cifar-classifier-pretrained-s0 .* was trained with"):
        transfer.main([*argv[:-1], "3"])
    with pytest.raises(SystemExit):
        transfer.main(["--checkpoints", "a/model", "b/model"])  # two cells would share a name
