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


def test_run_times_every_case_on_a_miniature_dataset(tmp_path):
    # 3 identities (one per fold) x 1 sequence x 4 frames of the real synthetic_au builder
    from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sb

    cfg = sb.SyntheticAuConfig(name="bp4d_occurrence_tiny", protocol="bp4d_occurrence",
                               n_identities=3, n_sequences=1, n_frames=4)
    sb.Builder(config=cfg, data_dir=str(tmp_path)).download_and_prepare()
    # a crop case: the pipeline outputs 24 px of 32 (the model input of a cropping recipe)
    cases = {"crop": (AugmentConfig(flip=True, crop_fraction=0.75), ("labels", "roi_maps"))}
    rates = pipeline.run(cases, data_dir=str(tmp_path), config="bp4d_occurrence_tiny",
                         image_size=32, batch_size=2, batches=1, warmup=1, windows=1)
    assert set(rates) == {"crop"} and rates["crop"] > 0
