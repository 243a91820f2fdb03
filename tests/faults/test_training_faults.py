"""Training faults (issue 17 item 4): every epoch runs its steps, for every method.

RE-Net and ResNet-18 hold out validation subjects, and the subject filter hid the training
set's length: Keras then ran ``steps_per_epoch`` batches from one iterator and found it
exhausted every other epoch (loss 0.0, "Your input ran out of data"). The fast test checks the
training pipeline of RE-Net (the filtered case) yields exactly ``steps`` batches per pass, twice;
the slow one trains every method for 3 epochs and checks each epoch trained.
"""
import csv
import math
import os

import pytest

CONFIGS = {
    "scc_heatmap": "disfa_intensity_tiny",
    "resnet_deconv": "disfa_intensity_tiny",
    "g2rl": "disfa_intensity_tiny",
    "roi_gcn": "bp4d_occurrence_tiny",
    "re_net": "bp4d_occurrence_tiny",
    "resnet18": "bp4d_occurrence_tiny",
}


def test_all_methods_listed():
    from tfau.recipes import recipe_names

    assert set(recipe_names()) <= set(CONFIGS), sorted(set(recipe_names()) - set(CONFIGS))


def test_filtered_training_pipeline_has_exact_epochs(tiny_data_dir, tmp_path):
    from tfau.recipes import get_recipe
    from tfau.training import flags, trainer
    from tfau.training import strategy as strategy_lib

    recipe = get_recipe("re_net")
    args = flags.build_parser(recipe).parse_args([
        "--preset", "tiny", "--config", CONFIGS["re_net"], "--data_dir", tiny_data_dir,
        "--output_dir", str(tmp_path / "run"), "--no_export", "--jit", "false"])
    s = flags.resolve(recipe, args)
    fd = trainer.scan_fold(recipe, s, 1)
    assert fd.val_subjects  # the subject filter is in play
    strategy = strategy_lib.make_strategy()
    model, steps = trainer.build_and_compile(recipe, s, strategy, fd)
    train, _, _ = trainer.make_pipelines(recipe, s, model, fd, 1, steps)
    assert int(train.cardinality()) == steps
    for _ in range(2):  # Keras makes one iterator per epoch: each must give `steps` batches
        assert sum(1 for _ in train) == steps


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_every_epoch_trains(method, tiny_data_dir, run_python, tmp_path):
    out = str(tmp_path / method)
    run_python(["-c", "import sys; from tfau.training import main; main(sys.argv[1], sys.argv[2:])",
                method, "--preset", "tiny", "--config", CONFIGS[method], "--data_dir",
                tiny_data_dir, "--output_dir", out, "--epochs", "3", "--no_export",
                "--verbose", "0"], timeout=900)
    rows = _history(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    losses = [float(r["loss"]) for r in rows]
    assert all(math.isfinite(v) and v > 0 for v in losses), losses  # 0.0 = an empty epoch
    assert len(set(losses)) == 3, losses  # each epoch changed the weights
