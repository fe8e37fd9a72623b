"""The package as a user imports it: light, exporting only what can be built, everything else loaded on first use."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import inductive_zoo
from inductive_zoo.models.skeleton import (
    IsotropicForImageClassification,
    IsotropicForMaskedImageModeling,
    IsotropicModel,
)

ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("datasets", "pandas", "pyarrow", "sklearn", "matplotlib", "kornia", "inductive_zoo.training")


def test_importing_the_package_loads_the_models_only():
    code = f"import sys, inductive_zoo; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_only_the_demo_page_imports_gradio():
    code = "import sys, inductive_zoo.publishing, inductive_zoo.cli; print('gradio' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"


def test_lazy_exports_resolve_to_their_layer_and_unknown_names_raise():
    assert inductive_zoo.PRSCallback.__module__ == "inductive_zoo.training.prs_switches"
    assert inductive_zoo.SimCLRModel.__module__ == "inductive_zoo.objectives.joint_embedding"
    assert set(inductive_zoo.SELF_SUPERVISED_MODELS) == {"simclr", "dino"}
    assert {"PRSCallback", "DINOModel"} <= set(dir(inductive_zoo))
    with pytest.raises(AttributeError, match="no_such_name"):
        inductive_zoo.no_such_name  # noqa: B018


# What the README and the cards tell users to import from the package root.
DOCUMENTED_NAMES = {
    f"{variant}{suffix}"
    for variant in (
        "IsoTransformer",
        "IsoMixer",
        "IsoConvNet",
        "IsoPoolFormer",
        "ConViT",
        "PRSViT",
        "IBiT",
        "CADAResNet",
    )
    for suffix in ("Config", "Model", "ForImageClassification", "ForMaskedImageModeling")
} | {"SimCLRModel", "DINOModel", "PRSCallback", "DINOTeacherCallback"}


def test_the_documented_names_are_exported_each_under_its_own_name():
    assert sorted(DOCUMENTED_NAMES - set(inductive_zoo.__all__)) == []
    misnamed = [
        name
        for name in inductive_zoo.__all__
        if callable(value := getattr(inductive_zoo, name)) and getattr(value, "__name__", name) != name
    ]
    assert misnamed == []


def test_every_exported_model_class_can_be_built():
    config_by_class = {model: config for config, *models in inductive_zoo.VARIANTS for model in models}
    config_by_class.update({model: config for config, model in inductive_zoo.MASKED_IMAGE_MODELING_MODELS.items()})
    exported = [getattr(inductive_zoo, name) for name in inductive_zoo.__all__]
    model_classes = [
        value
        for value in exported
        if isinstance(value, type) and value.__name__.endswith(("Model", "Modeling", "Classification"))
    ]
    unbuildable = [
        cls.__name__
        for cls in model_classes
        if cls not in config_by_class and cls.__name__ not in ("SimCLRModel", "DINOModel")
    ]
    assert unbuildable == []


@pytest.mark.parametrize(
    "skeleton_class", [IsotropicModel, IsotropicForImageClassification, IsotropicForMaskedImageModeling]
)
def test_the_skeleton_alone_says_to_build_a_variant(skeleton_class):
    with pytest.raises(TypeError, match="build a variant"):
        skeleton_class(inductive_zoo.IsotropicConfig())


def test_the_wheel_lists_every_package_of_the_tree():
    """pyproject lists the packages by hand (the top-level `conversion/` and `model_cards/` are mapped into the
    package); a package added to the tree but not to the list would be missing from the installed wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    in_tree = set()
    for name, folder in setuptools["package-dir"].items():
        base = "inductive_zoo" if name == "" else name
        root = ROOT / folder / ("inductive_zoo" if name == "" else "")
        for init in root.rglob("__init__.py"):
            parts = init.parent.relative_to(root).parts
            in_tree.add(".".join((base, *parts)))
    assert in_tree == set(setuptools["packages"])
