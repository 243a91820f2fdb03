import math
import os

import numpy as np
import pytest

from tfau import metrics
from tfau import data as trainer_data
from tfau import runs as trainer


def _fold(values, n=10):
    y = np.tile(np.arange(n, dtype=np.float64)[:, None] % 6, (1, 5))
    p = y + np.asarray(values)[None, :]
    return metrics.evaluate(y, p, None, "bp4d_intensity")


def test_average_results_means_each_au_over_folds():
    a, b = _fold([0, 0.5, 1, 0, 0]), _fold([1, 0.5, 0, 0, 2])
    mean = trainer.average_results([a, b])
    assert mean["n_frames"] == 20 and mean["n_folds"] == 2
    assert mean["mae"]["AU06"] == pytest.approx(0.5)
    assert mean["mae"]["AU10"] == pytest.approx(0.5)
    assert mean["mae"]["AU17"] == pytest.approx(1.0)
    assert mean["mae"]["avg"] == pytest.approx(np.mean([0.5, 0.5, 0.5, 0.0, 1.0]))
    assert mean["mae"]["per_fold_avg"] == pytest.approx([a["mae"]["avg"], b["mae"]["avg"]])
    # the averaged dict still renders as a paper table
    assert "| MAE |" in metrics.render_table(mean, "bp4d_intensity")


def test_average_results_skips_undefined_folds():
    a, b = _fold([0] * 5), _fold([0] * 5)
    b["icc"]["AU06"] = math.nan
    a["icc"]["AU06"] = 0.5
    assert trainer.average_results([a, b])["icc"]["AU06"] == pytest.approx(0.5)


def test_validation_subjects_every_fifth_sorted():
    subjects = np.array([f"S{i:03d}".encode() for i in range(12)] * 3)
    assert trainer_data.validation_subjects(subjects) == [b"S002", b"S007"]
    assert trainer_data.validation_subjects(np.array([b"a", b"b"])) == []


def test_nan_from_json_roundtrip():
    doc = {"icc": {"AU06": None, "avg": 0.5}, "aus": ["AU06"]}
    out = trainer.nan_from_json(doc)
    assert math.isnan(out["icc"]["AU06"]) and out["icc"]["avg"] == 0.5


def _fake_saved_model(path, run_dir):
    import json as json_lib

    from tfau import export as export_lib

    os.makedirs(os.path.join(path, "assets.extra"))
    open(os.path.join(path, "saved_model.pb"), "wb").close()
    with open(os.path.join(path, export_lib.METADATA_FILE), "w") as f:
        json_lib.dump({"format": "tfau-savedmodel-1", "run_dir": run_dir}, f)


def test_export_folder_checked_before_training(tmp_path):
    """Issue 17 item 1: the trainer never silently replaces another run's SavedModel, and never
    writes into a folder that is not a SavedModel; its own earlier export is replaced."""
    import dataclasses

    import pytest

    from tfau.training import exporting, trainer

    fd = trainer.FoldData.__new__(trainer.FoldData)
    fd.has_folds = True
    s = dataclasses.replace(_settings(), export_dir=str(tmp_path / "saved"),
                            overwrite_export=False)
    run_a, run_b = str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b")
    target = exporting.export_path_of(s, fd, 1)
    exporting.check_export(s, fd, 1, run_a)  # nothing there yet
    _fake_saved_model(target, run_a)
    exporting.check_export(s, fd, 1, run_a)  # the run's own export: replaced on resume / rerun
    with pytest.raises(SystemExit, match="already holds a tfau SavedModel.*--overwrite_export"):
        exporting.check_export(s, fd, 1, run_b)
    exporting.check_export(dataclasses.replace(s, overwrite_export=True), fd, 1, run_b)
    other = exporting.export_path_of(s, fd, 2)
    os.makedirs(other)
    open(os.path.join(other, "notes.txt"), "w").close()  # someone's folder, not a SavedModel
    with pytest.raises(SystemExit, match="is not a tfau SavedModel"):
        exporting.check_export(dataclasses.replace(s, overwrite_export=True), fd, 2, run_b)


def _settings():
    from tfau.recipes import get_recipe
    from tfau.training import flags

    recipe = get_recipe("g2rl")
    return flags.resolve(recipe, flags.build_parser(recipe).parse_args(["--preset", "tiny"]))


def test_evaluation_predictor_uses_the_model_hook_or_serving():
    import tensorflow as tf

    from tfau.training.trainer import evaluation_predictor

    class Hooked:
        evaluation_features = ("image", "landmarks")

        @staticmethod
        def _feature(features, key):  # a static helper through self, as the models have
            return features.get(key)

        def evaluation_outputs(self, features):
            s = tf.reduce_sum(self._feature(features, "landmarks"), axis=(1, 2))[:, None]
            return {"per face": tf.tile(s, [1, 3]), "template": tf.zeros_like(tf.tile(s, [1, 3]))}

    class Plain:
        def serving_model(self):
            return lambda image, training=False: {"au": tf.reduce_mean(image, (1, 2))}

    feats = {"image": tf.ones((2, 4, 4, 3)), "landmarks": tf.ones((2, 68, 2))}
    keys, predict, names = evaluation_predictor(Hooked())
    out = predict({k: feats[k] for k in keys}).numpy()
    assert keys == ("image", "landmarks") and names == ["per face", "template"]
    np.testing.assert_allclose(out, np.concatenate([np.full((2, 3), 136.0), np.zeros((2, 3))], 1))
    keys, predict, names = evaluation_predictor(Plain())
    np.testing.assert_allclose(predict({"image": feats["image"]}).numpy(), np.ones((2, 3)))
    assert keys == ("image",) and names == ["serving"]  # names are known once traced
