"""What the benchmarks ask the registry and the recipes: protocols, baselines, ratio pairs."""
import pytest

from benchmarks import ratios
from benchmarks.settings import Settings, baseline_of, model_names, model_protocol
from tfau.models import model_class
from tfau.recipes import get_recipe


def test_every_registered_model_is_benchmarked_on_its_recipes_task():
    assert Settings().models == model_names()
    for name in model_names():
        protocol = model_protocol(name)
        assert protocol == f"bp4d_{get_recipe(name).task}", name
        tiny = model_protocol(name, tiny=True)
        assert tiny.split("_", 1)[1] in model_class(name).supported_tasks, name
        if "intensity" in model_class(name).supported_tasks:
            assert tiny == "bp4d_intensity", name  # 5 AUs: the cheapest per-AU loop


def test_baselines_come_from_the_model_classes():
    # declared as a variant of the model itself
    key, name, options = baseline_of("roi_gcn")
    assert (name, options) == ("roi_gcn", {"use_gcn": False}) and key == "roi_gcn(use_gcn=False)"
    # not declared: the registered model the class extends
    assert baseline_of("scc_heatmap") == ("resnet_deconv", "resnet_deconv", {})
    # extends no registered model
    assert baseline_of("resnet_deconv") is None
    assert baseline_of("re_net") is None


def test_pairs_need_the_baseline_in_the_run():
    s = Settings(models=("scc_heatmap", "roi_gcn"))
    assert [p[:2] for p in ratios.pairs(s)] == [("roi_gcn", "roi_gcn(use_gcn=False)")]
    s = Settings(models=("resnet_deconv", "scc_heatmap"))
    assert [p[:2] for p in ratios.pairs(s)] == [("scc_heatmap", "resnet_deconv")]
    assert ratios.keep_live(s) == {"scc_heatmap", "resnet_deconv"}


def test_unknown_preset_is_an_error():
    with pytest.raises(ValueError, match="unknown mode"):
        Settings.preset("huge")
