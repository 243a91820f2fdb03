"""SavedModel export: signatures seen by saved_model_cli, outputs equal to the Keras model."""
import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfau import export

SAVED_MODEL_CLI = shutil.which("saved_model_cli")


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _faces(n=3, size=64, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, size, size, 3)).astype(np.uint8)


def test_predictor_matches_keras_serving_model(tiny_saved_model):
    pred = export.load(tiny_saved_model)
    assert pred.metadata["method"] == "resnet_deconv"
    assert pred.au_names == ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15",
                             "AU17", "AU20", "AU25", "AU26"]
    assert pred.task == "intensity" and pred.image_size == 32 and pred.has_maps
    faces = _faces(size=32)
    out = pred.predict(faces)
    assert out["au"].shape == (3, 12) and out["au"].dtype == np.float32
    assert out["maps"].shape == (3, 8, 8, 24)
    # 256 px faces (the aligner's frame) are resized inside: same as resizing outside first
    big = np.repeat(np.repeat(faces, 2, axis=1), 2, axis=2)
    small = tf.image.resize(tf.cast(big, tf.float32), [32, 32], antialias=True)
    small = np.clip(np.round(small.numpy()), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(pred.predict(big)["au"], pred.predict(small)["au"], atol=0.05)
    # encoded bytes signature == uint8 signature
    enc = [cv2.imencode(".png", f[..., ::-1])[1].tobytes() for f in faces]  # cv2 wants BGR
    np.testing.assert_allclose(pred.predict_bytes(enc)["au"], out["au"], rtol=1e-5, atol=1e-6)
    # one face without batch dim
    np.testing.assert_allclose(pred.predict(faces[0])["au"], out["au"][0], rtol=1e-5, atol=1e-6)


def test_clear_errors(tiny_saved_model):
    pred = export.load(tiny_saved_model)
    with pytest.raises(TypeError, match="uint8"):
        pred.predict(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="H, H, 3"):
        pred.predict(np.zeros((1, 32, 30, 3), np.uint8))
    # the graph's own asserts, reached through the raw signature
    with pytest.raises(tf.errors.InvalidArgumentError, match="tfau: images must be square"):
        pred._serve(images=tf.zeros([1, 32, 30, 3], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="tfau: images must be RGB"):
        pred._serve(images=tf.zeros([1, 32, 32, 4], tf.uint8))
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        export.load(os.path.dirname(tiny_saved_model))


def test_metadata_signature_and_file(tiny_saved_model):
    loaded = tf.saved_model.load(tiny_saved_model)
    sig = loaded.signatures["metadata"]()
    assert [s.decode() for s in sig["au_names"].numpy()][:3] == ["AU01", "AU02", "AU04"]
    assert sig["aus"].numpy().tolist()[-1] == 26
    assert sig["protocol"].numpy().decode() == "disfa_intensity"
    assert int(sig["image_size"]) == 32
    meta = json.loads(sig["json"].numpy().decode())
    with open(os.path.join(tiny_saved_model, "assets.extra", "tfau.json")) as f:
        assert json.load(f)["au_names"] == meta["au_names"]
    assert meta["outputs"] == {"au": [None, 12], "maps": [None, 8, 8, 24]}


@pytest.mark.skipif(SAVED_MODEL_CLI is None, reason="saved_model_cli not on PATH")
def test_saved_model_cli_show_and_run(tiny_saved_model, tmp_path):
    show = _cli("show", "--all", "--dir", tiny_saved_model)
    assert show.returncode == 0, show.stderr[-2000:]
    text = show.stdout
    for key in ("signature_def['serving_default']", "signature_def['serve_bytes']",
                "signature_def['metadata']", "inputs['images']", "inputs['image_bytes']",
                "outputs['au']", "outputs['maps']", "DT_UINT8", "DT_STRING", "(-1, 12)",
                "(-1, 8, 8, 24)"):
        assert key in text, key

    faces = _faces(2, 32, seed=3)
    np.save(tmp_path / "faces.npy", faces)
    outdir = tmp_path / "out"
    run = _cli("run", "--dir", tiny_saved_model, "--tag_set", "serve",
               "--signature_def", "serving_default", "--inputs", f"images={tmp_path}/faces.npy",
               "--outdir", str(outdir))
    assert run.returncode == 0, run.stderr[-3000:]
    au = np.load(outdir / "au.npy")
    maps = np.load(outdir / "maps.npy")
    expected = export.load(tiny_saved_model).predict(faces)
    np.testing.assert_allclose(au, expected["au"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(maps, expected["maps"], rtol=1e-4, atol=1e-5)



def test_detector_and_plots_stay_on_the_serving_side():
    # tfau.Detector loads SavedModels, .keras files and run folders without the trainer
    import ast

    import tfau

    root = os.path.dirname(tfau.__file__)
    seen, todo = set(), ["tfau.detector", "tfau.plots", "tfau.export"]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        path = os.path.join(root, *mod.split(".")[1:]) + ".py"
        if not os.path.exists(path):
            path = os.path.join(root, *mod.split(".")[1:], "__init__.py")
        if not os.path.exists(path):
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            todo += [n for n in names if n.startswith("tfau.")]
    assert "tfau.detector" in seen and "tfau.runs" in seen
    assert not [m for m in seen if m.startswith("tfau.training")], sorted(seen)


def test_detector_model_errors_name_the_path(tmp_path):
    from tfau import aus, detector
    from tfau.models import build_tiny_model

    with pytest.raises(FileNotFoundError, match="nowhere"):
        detector.load_model(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a SavedModel folder"):
        detector.load_model(str(tmp_path / "empty"))
    lone = tmp_path / "lone"
    lone.mkdir()
    model = build_tiny_model("resnet_deconv", aus.get_protocol("disfa_intensity"), image_size=32)
    model(np.zeros((1, 32, 32, 3), np.float32))
    model.serving_model().save(str(lone / "m.keras"))
    with pytest.raises(export.ModelError, match="no run.json beside it"):
        detector.load_model(str(lone / "m.keras"))
    (lone / "run.json").write_text("{broken")
    with pytest.raises(export.ModelError, match="run.json"):
        detector.load_model(str(lone / "m.keras"))
    (tmp_path / "garbage.keras").write_bytes(b"not a zip")
    (tmp_path / "run.json").write_text(json.dumps(
        {"method": "resnet_deconv", "protocol": "disfa_intensity", "image_size": 32}))
    with pytest.raises(export.ModelError, match="garbage.keras: cannot load"):
        detector.load_model(str(tmp_path / "garbage.keras"))
