import pytest

from tfau import aus
from tfau.training import recipe as recipe_lib
from tfau.training.optim import OptimizerSpec
from tfau.training.recipe import Preset, Recipe

P = Preset(epochs=1, batch_size=2, image_size=32)


def test_protocol_for_synthetic_and_licensed_names():
    assert recipe_lib.protocol_for("synthetic_au", "disfa_intensity").name == "disfa_intensity"
    assert recipe_lib.protocol_for("synthetic_au", "bp4d_occurrence_large").aus == \
        aus.BP4D_OCCURRENCE_AUS
    assert recipe_lib.protocol_for("disfa", "intensity").name == "disfa_intensity"
    p = recipe_lib.protocol_for("disfa", "occurrence_thr1")
    assert p.name == "disfa_occurrence" and p.threshold == 1.0
    with pytest.raises(ValueError, match="cannot tell"):
        recipe_lib.protocol_for("bp4d", "nonsense")


def test_fold_list():
    assert recipe_lib.fold_list("all") == (1, 2, 3)
    assert recipe_lib.fold_list(2) == (2,)
    assert recipe_lib.fold_list("fera") == (0,)
    with pytest.raises(ValueError):
        recipe_lib.fold_list("4")


def test_recipe_defaults_and_validation():
    r = Recipe("g2rl", "intensity", {"synthetic_au": "disfa_intensity"}, OptimizerSpec(),
               {"paper": P, "cpu": P})
    assert r.default_preset("synthetic_au") == "cpu"
    assert r.default_preset("disfa") == "paper"
    assert r.default_config("bp4d") == "bp4d_intensity"
    with pytest.raises(ValueError, match="cpu"):
        Recipe("g2rl", "intensity", {}, OptimizerSpec(), {"paper": P})
    with pytest.raises(ValueError, match="task"):
        Recipe("g2rl", "regression", {}, OptimizerSpec(), {"paper": P, "cpu": P})


def test_every_train_script_declares_a_valid_recipe():
    import importlib.util
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "train_scripts"
    names = sorted(p.stem for p in root.glob("*.py"))
    assert {"scc_heatmap", "g2rl", "roi_gcn", "re_net", "resnet_deconv", "resnet18"} <= set(names)
    for name in names:
        spec = importlib.util.spec_from_file_location(f"ts_{name}", root / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        r = mod.RECIPE
        assert r.method == name
        assert {"paper", "cpu", "tiny"} <= set(r.presets)
        assert r.presets["cpu"].folds == "1" and r.presets["paper"].folds == "all"
        proto = recipe_lib.protocol_for("synthetic_au", r.default_config("synthetic_au"))
        assert proto.task == r.task
