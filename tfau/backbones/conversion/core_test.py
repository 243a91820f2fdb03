"""The conversion machinery without torch: synthetic state dicts in PyTorch layout."""
import os

import keras
import numpy as np
import pytest

from tfau.backbones import hrnet_v2_w18, load_local_weights, resnet18
from tfau.backbones.conversion import core, imagenet


def _fake_state(backbone, model, seed=0):
    """A state dict in PyTorch layout that fits ``model``, plus the classifier and counters."""
    rng = np.random.default_rng(seed)
    state = {}
    for layer_name, kind, prefix in core.converter(backbone).layer_map():
        layer = model.get_layer(layer_name)
        if kind == "conv":
            kh, kw, cin, cout = layer.kernel.shape
            state[f"{prefix}.weight"] = rng.normal(size=(cout, cin, kh, kw)).astype(np.float32)
        else:
            c = layer.gamma.shape[0]
            for suffix in ("weight", "bias", "running_mean", "running_var"):
                state[f"{prefix}.{suffix}"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
            state[f"{prefix}.num_batches_tracked"] = np.array(7, np.int64)
    return state


@pytest.fixture(scope="module")
def r18():
    return resnet18((32, 32, 3))


def test_layouts(r18):
    state = _fake_state("resnet18", r18)
    state["fc.weight"] = np.zeros((1000, 512), np.float32)  # the classifier is left out
    core.assign(core.converter("resnet18"), state, r18)
    np.testing.assert_array_equal(np.asarray(r18.get_layer("stage3_block1_conv1").kernel),
                                  state["layer3.0.conv1.weight"].transpose(2, 3, 1, 0))
    bn = r18.get_layer("stage2_block1_down_bn")
    for var, suffix in zip(bn.weights, ("weight", "bias", "running_mean", "running_var")):
        np.testing.assert_array_equal(np.asarray(var), state[f"layer2.0.downsample.1.{suffix}"])


def test_every_problem_is_named_and_nothing_is_assigned(r18):
    state = _fake_state("resnet18", r18, seed=1)
    del state["layer4.1.bn2.running_var"]
    state["layer4.1.extra.weight"] = np.zeros(3, np.float32)
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"][:, :32]
    before = [np.asarray(w).copy() for w in r18.weights]
    with pytest.raises(core.ConversionError) as e:
        core.assign(core.converter("resnet18"), state, r18, source="x.pth")
    message = str(e.value)
    for expected in ("x.pth", "layer4.1.bn2.running_var", "layer4.1.extra.weight",
                     "layer1.0.conv1.weight (64, 32, 3, 3)", "stage1_block1_conv1",
                     "Nothing was converted"):
        assert expected in message, message
    for b, w in zip(before, r18.weights):
        np.testing.assert_array_equal(b, np.asarray(w))


def test_hrnet_map_covers_every_layer_once():
    model = hrnet_v2_w18((32, 32, 3))
    entries = core.converter("hrnetv2_w18").layer_map()
    names = [n for n, _, _ in entries]
    assert len(names) == len(set(names))
    weighted = {l.name for l in model.layers if l.weights}
    assert set(names) == weighted
    prefixes = [p for _, _, p in entries]
    assert len(prefixes) == len(set(prefixes))
    core.plan(core.converter("hrnetv2_w18"), _fake_state("hrnetv2_w18", model), model)
    # the fusion upsampling is configurable and defaults to the ImageNet code's nearest
    ups = [l for l in model.layers if isinstance(l, keras.layers.UpSampling2D)]
    fuse = [l for l in ups if "_fuse" in l.name]
    assert fuse and all(l.interpolation == "nearest" for l in fuse)
    assert all(l.interpolation == "bilinear" for l in ups if l.name.startswith("v2_up"))
    with pytest.raises(ValueError, match="fuse_upsampling"):
        hrnet_v2_w18((32, 32, 3), fuse_upsampling="cubic")


@pytest.mark.slow
def test_hrnet_bilinear_fusion_variant():
    bilinear = hrnet_v2_w18((32, 32, 3), width=0.125, fuse_upsampling="bilinear")
    ups = [l for l in bilinear.layers if isinstance(l, keras.layers.UpSampling2D)]
    assert len(ups) == 3 + 1 * 1 + 4 * 3 + 3 * 6 and all(l.interpolation == "bilinear" for l in ups)


def test_safetensors_file_route(tmp_path, r18, monkeypatch):
    """safetensors -> .weights.h5 (with its attributes) -> backbone_weights; the imagenet
    folder converts a checkpoint it finds once; mismatched files are named."""
    safetensors = pytest.importorskip("safetensors.numpy", reason="needs safetensors")
    state = _fake_state("resnet18", r18, seed=2)
    src = str(tmp_path / "r18.safetensors")
    safetensors.save_file(state, src)
    assert set(core.read_state_dict(src)) == set(state)
    dest = core.convert_checkpoint("resnet18", src, str(tmp_path / "r18.weights.h5"), r18)
    assert core.weights_file_attrs(dest) == {"tfau_backbone": "resnet18", "tfau_width": 1.0,
                                             "tfau_source": "r18.safetensors"}
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    from_h5 = resnet18((64, 64, 3), weights=dest)
    from_st = resnet18((64, 64, 3), weights=src)
    np.testing.assert_array_equal(np.asarray(from_h5(x)), np.asarray(from_st(x)))

    with pytest.raises(ValueError, match="holds resnet18 weights.*--backbone resnet18"):
        load_local_weights(r18, dest, "hrnetv2_w18")  # checked before anything is loaded
    with pytest.raises(ValueError, match="width 1.0"):
        resnet18((32, 32, 3), width=0.5, weights=src)

    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("TFAU_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TFAU_NO_DOWNLOAD", "1")
    os.replace(src, folder / "resnet18.tv_in1k.safetensors")
    model = resnet18((64, 64, 3), weights="imagenet")
    assert os.path.isfile(folder / "resnet18_imagenet.weights.h5")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(from_h5(x)))
    assert imagenet.imagenet_weights("resnet18", model) == str(folder / "resnet18_imagenet.weights.h5")


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        core.read_state_dict(str(tmp_path / "missing.pth"))
    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    with pytest.raises(core.ConversionError, match="not a PyTorch checkpoint"):
        core.read_state_dict(str(other))
    with pytest.raises(ValueError, match="no checkpoint converter for backbone 'resnet50'"):
        core.converter("resnet50")


def test_cli_errors(tmp_path, capsys):
    from tfau.cli import CONVERTIBLE_BACKBONES, main

    assert CONVERTIBLE_BACKBONES == core.CONVERTIBLE
    assert main(["convert-weights", "resnet18", str(tmp_path / "none.pth"),
                 str(tmp_path / "out.weights.h5")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    existing = tmp_path / "out.weights.h5"
    existing.write_bytes(b"")
    assert main(["convert-weights", "resnet18", "x.pth", str(existing)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_imagenet_download_route(tmp_path, r18, monkeypatch):
    """Nothing in the folder: the public checkpoint is fetched (here from a file:// URL), kept
    under its name and converted; a failed fetch ends in the one offline message."""
    import dataclasses

    safetensors = pytest.importorskip("safetensors.numpy", reason="needs safetensors")
    remote = tmp_path / "remote" / "model.safetensors"
    remote.parent.mkdir()
    safetensors.save_file(_fake_state("resnet18", r18, seed=3), str(remote))
    folder = tmp_path / "cache"
    monkeypatch.setenv("TFAU_WEIGHTS_DIR", str(folder))
    monkeypatch.delenv("TFAU_NO_DOWNLOAD", raising=False)
    source = imagenet.SOURCES["resnet18"]
    monkeypatch.setitem(imagenet.SOURCES, "resnet18",
                        dataclasses.replace(source, url=remote.as_uri()))
    path = imagenet.imagenet_weights("resnet18", r18)
    assert path == str(folder / "resnet18_imagenet.weights.h5")
    assert (folder / source.download_as).is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [source.download_as, source.converted])  # no temporary file left behind

    monkeypatch.setenv("TFAU_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setitem(imagenet.SOURCES, "resnet18",
                        dataclasses.replace(source, url=(tmp_path / "nothing").as_uri()))
    with pytest.raises(FileNotFoundError, match="download failed.*tfau convert-weights resnet18"):
        imagenet.imagenet_weights("resnet18", r18)
