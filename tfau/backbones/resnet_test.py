"""ResNet-50 / ResNet-18 backbones and the in-model input normalisation."""

import keras
import numpy as np
import pytest

from tfau.backbones import ImageNormalization, resnet18, resnet50
from tfau.layers.graph_batch_norm import GraphBatchNorm
from tfau.testing.layer_harness import run_layer_checks


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def test_normalization_modes():
    x = _images(1, 4)
    caffe = ImageNormalization("caffe")(x)
    expected = keras.applications.resnet50.preprocess_input(x.copy())
    np.testing.assert_allclose(np.asarray(caffe), expected, rtol=1e-5, atol=1e-4)
    torch = np.asarray(ImageNormalization("torch")(x))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(torch, (x / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ImageNormalization("none")(x)), x)
    with pytest.raises(ValueError):
        ImageNormalization("imagenet")


def test_normalization_harness():
    run_layer_checks(ImageNormalization, {"mode": "caffe"}, _images(2, 4))


def test_resnet18_full_size_parameters():
    model = resnet18((64, 64, 3))
    assert _trainable(model) == 11_176_512  # torchvision ResNet-18 without the fc layer
    assert model.output.shape[1:] == (2, 2, 512)


def test_resnet18_width_and_shapes():
    model = resnet18((32, 32, 3), width=0.125)
    out = model(_images())
    assert out.shape == (2, 1, 1, 64)
    assert np.all(np.isfinite(np.asarray(out)))


def test_resnet18_conditioned_norm():
    model = resnet18(
        (32, 32, 3),
        width=0.125,
        norm=lambda name: GraphBatchNorm(3, name=name),
        conditioned=True,
    )
    assert [i.name for i in model.inputs] == ["image", "au_index"]
    norms = [l for l in model.layers if isinstance(l, GraphBatchNorm)]
    assert len(norms) == 20
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    out = model([_images(), np.array([0, 2], np.int32)], training=True)
    assert out.shape == (2, 1, 1, 64)


def test_resnet18_local_weights(tmp_path):
    model = resnet18((32, 32, 3), width=0.125)
    path = str(tmp_path / "r18.weights.h5")
    model.save_weights(path)
    loaded = resnet18((32, 32, 3), width=0.125, weights=path)
    np.testing.assert_allclose(np.asarray(loaded(_images())), np.asarray(model(_images())), atol=1e-6)
    with pytest.raises(FileNotFoundError):
        resnet18((32, 32, 3), weights=str(tmp_path / "missing.weights.h5"))


def test_resnet18_imagenet_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TFAU_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TFAU_NO_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError) as e:
        resnet18((32, 32, 3), weights="imagenet")
    message = str(e.value)
    assert "resnet18-f37072fd.pth" in message and "tfau convert-weights resnet18" in message
    assert str(tmp_path / "resnet18_imagenet.weights.h5") in message
    with pytest.raises(ValueError, match="width 1.0"):
        resnet18((32, 32, 3), width=0.125, weights="imagenet")


def test_resnet18_conditioned_norm_starts_from_the_plain_weights(tmp_path):
    plain = resnet18((32, 32, 3), width=0.125)
    rng = np.random.default_rng(0)
    for layer in plain.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    path = str(tmp_path / "plain.weights.h5")
    plain.save_weights(path)
    model = resnet18(
        (32, 32, 3),
        width=0.125,
        norm=lambda name: GraphBatchNorm(3, name=name),
        conditioned=True,
        weights=path,
    )
    bn, gbn = plain.get_layer("stage2_block1_bn1"), model.get_layer("stage2_block1_bn1")
    for src, dst in zip(bn.weights, gbn.weights):
        assert dst.name == src.name
        np.testing.assert_array_equal(np.asarray(dst), np.broadcast_to(np.asarray(src), dst.shape))
    np.testing.assert_array_equal(np.asarray(model.get_layer("stem_conv").kernel),
                                  np.asarray(plain.get_layer("stem_conv").kernel))
    # every AU's output equals the plain network's (identity graph: no mixing)
    x = _images()
    ref = np.asarray(plain(x, training=False))
    for au in range(3):
        out = model([x, np.full((2,), au, np.int32)], training=False)
        np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)


def test_resnet50_no_weights():
    model = resnet50((64, 64, 3), weights=None)
    assert model.output.shape[1:] == (2, 2, 2048)
    assert isinstance(model.layers[1], ImageNormalization) and model.layers[1].mode == "caffe"
    assert _trainable(model) == 23_534_592
