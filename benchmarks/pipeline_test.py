"""Pipeline cases come from the recipes (augmentation) and the models (targets)."""
from benchmarks import pipeline
from benchmarks.settings import model_names, model_protocol
from tfau.data import AugmentConfig
from tfau.models import model_class
from tfau.recipes import get_recipe


def test_case_names_spell_the_augmentation_and_the_map_targets():
    assert pipeline.case_name(AugmentConfig(), ("labels", "label_mask")) == "none/labels"
    assert pipeline.case_name(AugmentConfig(flip=True, rotation=30.0),
                              ("roi_maps", "labels")) == "flip+rot30/roi_maps"
    assert pipeline.case_name(AugmentConfig(flip=True, crop_fraction=0.875),
                              ("labels",)) == "flip+crop0.875/labels"


def test_each_model_runs_its_recipes_augmentation_with_its_targets():
    cases = pipeline.all_cases(model_names(), model_protocol)
    for name in model_names():
        protocol = model_protocol(name)
        augment, targets = pipeline.model_case(name, protocol)
        assert augment == get_recipe(name).augmentation(protocol)
        assert targets == tuple(model_class(name).required_targets)
        assert cases[pipeline.case_name(augment, targets)] == (augment, targets)
    assert pipeline.FULL in cases
    # at least one recipe augments and one does not: the cases differ
    assert len({c[0] for c in cases.values()}) >= 3
