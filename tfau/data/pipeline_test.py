"""Tests for tfau.data.make_pipeline / load_split on rendered synthetic_au examples."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfau import aus as aus_lib
from tfau import geometry
from tfau import targets as targets_lib
from tfau.data import AugmentConfig, load_split, make_pipeline

PROTOCOL = aus_lib.get_protocol("disfa_intensity")
ALL_TARGETS = ("labels", "label_mask", "heatmaps", "roi_maps", "roi_mask")


@pytest.fixture(scope="module")
def raw_examples():
    """8 rendered frames (JPEG bytes, as TFDS stores them); AU 3 of frame 1 marked unknown."""
    from tfau_datasets.synthetic_au import generate

    spec = generate.ExampleSpec("disfa_intensity", n_frames=4)
    exs = [e for i in (0, 1) for _, e in generate.sequence_examples(spec, i, 2)]
    cols = {k: np.stack([e[k] for e in exs]) for k in ("landmarks", "labels", "label_mask")}
    cols["labels"][:, 4] = 3.0  # AU6 active everywhere (so masking is visible)
    cols["label_mask"][1, 4] = 0.0
    cols["labels"][1, 4] = 9.0  # a BP4D-style "unknown" code
    cols["image"] = np.array([e["image"] for e in exs], dtype=object)
    return cols


def _ds(raw):
    return tf.data.Dataset.from_tensor_slices(
        {"image": tf.constant(list(raw["image"])), "landmarks": raw["landmarks"],
         "labels": raw["labels"], "label_mask": raw["label_mask"]})


def _batches(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]


def test_contract_shapes_and_dtypes(raw_examples):
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 128, targets=ALL_TARGETS, batch_size=4,
                       training=True, augment=AugmentConfig(flip=True, rotation=30.0),
                       sample_au=True, seed=3)
    features, targets = next(iter(ds))
    assert features["image"].shape == (4, 128, 128, 3) and features["image"].dtype == tf.float32
    assert features["landmarks"].shape == (4, 68, 2)
    assert features["au_index"].shape == (4,) and features["au_index"].dtype == tf.int32
    p = geometry.heatmap_spec(PROTOCOL).n_points
    assert targets["heatmaps"].shape == (4, 32, 32, p)
    assert targets["roi_maps"].shape == targets["roi_mask"].shape == (4, 32, 32, 12)
    assert targets["labels"].shape == targets["label_mask"].shape == (4, 12)
    assert 0.0 <= float(tf.reduce_min(features["image"])) and float(tf.reduce_max(features["image"])) <= 255.0
    only = make_pipeline(_ds(raw_examples), PROTOCOL, 128, targets=("heatmaps",), batch_size=4)
    assert set(only.element_spec[1]) == {"heatmaps"} and set(only.element_spec[0]) == {"image", "landmarks"}
    with pytest.raises(ValueError, match="unknown target"):
        make_pipeline(_ds(raw_examples), PROTOCOL, 128, targets=("boxes",), batch_size=4)


def test_map_stride_sets_the_target_map_size(raw_examples):
    # maps at S/8 for a model with two deconvolution stages (SCC-Heatmap Table 2)
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 64, targets=("heatmaps", "roi_maps"),
                       batch_size=4, map_stride=8)
    features, targets = next(iter(ds))
    assert targets["heatmaps"].shape[1:3] == targets["roi_maps"].shape[1:3] == (8, 8)
    spec = geometry.heatmap_spec(PROTOCOL)
    expected = targets_lib.heatmap_targets(
        features["landmarks"], raw_examples["labels"][:4] * raw_examples["label_mask"][:4],
        spec, image_size=64, map_size=8)
    np.testing.assert_allclose(targets["heatmaps"].numpy(), np.asarray(expected), atol=1e-4)
    with pytest.raises(ValueError, match="map_stride"):
        make_pipeline(_ds(raw_examples), PROTOCOL, 60, batch_size=4, map_stride=8)
    with pytest.raises(ValueError, match="map_stride"):
        make_pipeline(_ds(raw_examples), PROTOCOL, 64, batch_size=4, map_stride=0)


def test_targets_equal_tfau_targets_without_augmentation(raw_examples):
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 128, targets=ALL_TARGETS, batch_size=8)
    features, targets = _batches(ds)[0]
    # landmarks rescaled 256 -> 128 with pixel-centre alignment
    np.testing.assert_allclose(features["landmarks"],
                               (raw_examples["landmarks"] + 0.5) / 2 - 0.5, atol=1e-4)
    mask = raw_examples["label_mask"]
    labels = raw_examples["labels"] * mask
    np.testing.assert_array_equal(targets["labels"], labels)
    np.testing.assert_array_equal(targets["label_mask"], mask)
    spec = geometry.heatmap_spec(PROTOCOL)
    want = targets_lib.heatmap_targets(features["landmarks"], labels, spec, image_size=128)
    np.testing.assert_allclose(targets["heatmaps"], want.numpy(), atol=1e-6)
    roi, roi_mask = targets_lib.roi_targets(features["landmarks"], labels, geometry.roi_spec(PROTOCOL),
                                            image_size=128, label_mask=mask)
    np.testing.assert_allclose(targets["roi_maps"], roi.numpy(), atol=1e-6)
    np.testing.assert_allclose(targets["roi_mask"], roi_mask.numpy(), atol=1e-6)
    # decoded image = the JPEG, resized with antialiasing
    jpeg = tf.io.decode_jpeg(raw_examples["image"][0])
    ref = tf.image.resize(jpeg, [128, 128], antialias=True)
    assert np.abs(features["image"][0] - ref.numpy()).max() <= 0.51


def test_masks_zero_where_labels_unknown(raw_examples):
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 128, targets=ALL_TARGETS, batch_size=8)
    _, targets = _batches(ds)[0]
    au6 = PROTOCOL.aus.index(6)
    channels = np.nonzero(geometry.heatmap_spec(PROTOCOL).point_au == au6)[0]
    assert targets["labels"][1, au6] == 0.0 and targets["label_mask"][1, au6] == 0.0
    assert np.abs(targets["heatmaps"][1][..., channels]).max() == 0.0  # unknown: no peak
    assert targets["heatmaps"][0][..., channels].max() == pytest.approx(3.0)  # known: peak = label
    assert targets["roi_mask"][1, ..., au6].max() == 0.0 and targets["roi_maps"][1, ..., au6].max() == 0.0
    assert targets["roi_mask"][0, ..., au6].max() == 1.0 and targets["roi_maps"][0, ..., au6].max() == 1.0


def test_deterministic_mode_repeats_batches(raw_examples):
    kw = dict(targets=ALL_TARGETS, batch_size=4, training=True, sample_au=True, deterministic=True,
              augment=AugmentConfig(flip=True, rotation=20, scale=0.1, translation=0.05,
                                    brightness=0.1, contrast=0.1, saturation=0.1))
    run1 = _batches(make_pipeline(_ds(raw_examples), PROTOCOL, 64, seed=5, **kw))
    run2 = _batches(make_pipeline(_ds(raw_examples), PROTOCOL, 64, seed=5, **kw))
    other = _batches(make_pipeline(_ds(raw_examples), PROTOCOL, 64, seed=6, **kw))
    assert len(run1) == 2
    for b1, b2 in zip(run1, run2):
        tf.nest.map_structure(np.testing.assert_array_equal, b1, b2)
    assert not np.array_equal(run1[0][0]["image"], other[0][0]["image"])
    # a new epoch (iteration) draws new augmentations from the same seed, reproducibly
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 64, seed=5, **kw)
    epoch1, epoch2 = _batches(ds), _batches(ds)
    assert not np.array_equal(epoch1[0][0]["landmarks"], epoch2[0][0]["landmarks"])


def test_flip_in_pipeline_keeps_landmarks_anatomical(raw_examples):
    ds = make_pipeline(_ds(raw_examples), PROTOCOL, 256, targets=("labels",), batch_size=8,
                       training=True, augment=AugmentConfig(flip=True), seed=11, deterministic=True,
                       shuffle_buffer=1)
    features, targets = _batches(ds)[0]
    lm = features["landmarks"]
    assert (lm[:, 36, 0] < lm[:, 45, 0]).all() and (lm[:, 48, 0] < lm[:, 54, 0]).all()
    n_flipped = 0
    for i in range(8):
        orig = tf.io.decode_jpeg(raw_examples["image"][i]).numpy().astype(np.float32)
        if np.abs(features["image"][i] - orig[:, ::-1]).mean() < 1.0:
            n_flipped += 1
            expected = raw_examples["landmarks"][i][geometry.FLIP_PERMUTATION]
            np.testing.assert_allclose(lm[i][:, 0], 255.0 - expected[:, 0], atol=1e-3)
            np.testing.assert_allclose(lm[i][:, 1], expected[:, 1], atol=1e-3)
        else:
            np.testing.assert_allclose(features["image"][i], orig, atol=0.51)
            np.testing.assert_allclose(lm[i], raw_examples["landmarks"][i], atol=1e-3)
        np.testing.assert_array_equal(targets["labels"][i], raw_examples["labels"][i] * raw_examples["label_mask"][i])
    assert 0 < n_flipped < 8


def test_au_index_one_per_batch(raw_examples):
    ds = make_pipeline(_ds(raw_examples).repeat(6), PROTOCOL, 64, targets=("labels",), batch_size=4,
                       training=True, sample_au=True, seed=2)
    indices = []
    for features, _ in ds:
        idx = features["au_index"].numpy()
        assert (idx == idx[0]).all() and 0 <= idx[0] < PROTOCOL.n_aus
        indices.append(int(idx[0]))
    assert len(set(indices)) > 3
    evaluation = make_pipeline(_ds(raw_examples), PROTOCOL, 64, batch_size=4, sample_au=True)
    assert "au_index" not in evaluation.element_spec[0]


def test_crop_config_centre_crops_at_evaluation(raw_examples):
    cfg = AugmentConfig(flip=True, crop_fraction=224.0 / 256.0)
    ev = make_pipeline(_ds(raw_examples), PROTOCOL, 224, batch_size=8, augment=cfg)
    features, _ = _batches(ev)[0]
    assert features["image"].shape == (8, 224, 224, 3)
    np.testing.assert_allclose(features["landmarks"], raw_examples["landmarks"] - 16.0, atol=1e-4)
    orig = tf.io.decode_jpeg(raw_examples["image"][0]).numpy()
    np.testing.assert_array_equal(features["image"][0], orig[16:240, 16:240])
    crop_only = AugmentConfig(crop_fraction=cfg.crop_fraction)
    tr = make_pipeline(_ds(raw_examples), PROTOCOL, 224, batch_size=8, augment=crop_only,
                       training=True, seed=1, deterministic=True, shuffle_buffer=1)
    features, _ = _batches(tr)[0]
    offsets = raw_examples["landmarks"] - features["landmarks"]  # [8, 68, 2] one shift per face
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(68, 1), atol=1e-3)
    assert offsets.min() >= -1e-3 and offsets.max() <= 32 + 1e-3 and offsets.std() > 1.0


def test_load_split_builds_reads_and_explains(tmp_path):
    from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sab

    cfg = sab.SyntheticAuConfig(name="pipe_tiny", protocol="bp4d_intensity", n_identities=3,
                                n_sequences=1, n_frames=1)
    sab.Builder(config=cfg, data_dir=str(tmp_path)).download_and_prepare()
    ds = load_split("synthetic_au", "pipe_tiny", "fold2", data_dir=str(tmp_path))
    (ex,) = list(ds.as_numpy_iterator())
    assert ex["subject"] == b"S002" and ex["image"].dtype == np.uint8 and ex["labels"].shape == (5,)
    raw = load_split("synthetic_au", "pipe_tiny", "fold2", data_dir=str(tmp_path), decode_image=False)
    assert raw.element_spec["image"].dtype == tf.string
    batches = _batches(make_pipeline(raw, "bp4d_intensity", 64, batch_size=1, targets=("heatmaps",)))
    assert batches[0][1]["heatmaps"].shape == (1, 16, 16, 10)
    with pytest.raises(FileNotFoundError, match="tfds build datasets/disfa"):
        load_split("disfa", "intensity", "fold1", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split("affectnet", "x", "train", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no config"):
        load_split("synthetic_au", "nope", "fold1", data_dir=str(tmp_path))


def test_model_pipeline_kwargs_reads_the_models_declarations():
    from tfau.data import model_pipeline_kwargs

    class Plain:
        required_targets = ("heatmaps", "labels", "label_mask")
        required_features = ("image",)

    class PerAU:
        required_features = ("image", "au_index")
        map_stride = 8
        heatmap_scale = 255.0
        sample_au_indices = (0, 2)  # AU 1 held out of training

    assert model_pipeline_kwargs(Plain()) == {
        "targets": ("heatmaps", "labels", "label_mask"), "sample_au": False, "map_stride": 4,
        "heatmap_scale": 1.0}
    assert model_pipeline_kwargs(PerAU()) == {
        "targets": ("labels", "label_mask"), "sample_au": [0, 2], "map_stride": 8,
        "heatmap_scale": 255.0}
    per_au = PerAU()
    per_au.sample_au_indices = None  # trains on every AU
    assert model_pipeline_kwargs(per_au)["sample_au"] is True
