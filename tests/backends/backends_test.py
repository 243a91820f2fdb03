"""Keras's JAX and PyTorch backends (issue 15): tfau's layers, models and losses import without
TensorFlow, every registered model trains on NumPy batches (float32 and mixed precision), and
``.keras`` files saved under TensorFlow load under JAX with equal outputs.

CI runs this folder in the TF-free venv of ``.ci/backends`` under ``KERAS_BACKEND=jax`` and
``torch``; in the main (TensorFlow) environment only the import check runs (the model tests
already train every model on TF).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfau.models import build_model, model_class, model_names
from tfau.testing import model_harness as tu

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BACKEND = keras.backend.backend()
not_tf = pytest.mark.skipif(BACKEND == "tensorflow",
                            reason="TF training is covered by tfau/models/*_test.py")

BLOCK_TF = """
import sys
for _name in ("tensorflow", "tensorflow_datasets", "tf_keras"):
    sys.modules[_name] = None  # import raises ModuleNotFoundError; find_spec answers None
"""

def protocol_for(name):
    """A protocol of the model's first supported task (asked of the registry, not hard-coded)."""
    return f"bp4d_{model_class(name).supported_tasks[0]}"


def test_imports_without_tensorflow():
    """With TensorFlow unimportable: layers, models, backbones, metrics and losses import (and a
    loss computes); the TF-only parts raise TensorFlowRequiredError naming themselves."""
    backend = BACKEND
    if backend == "tensorflow":  # Keras's numpy backend needs jax too
        import importlib.util

        backend = next((b for b in ("jax", "torch") if importlib.util.find_spec(b)), None)
        if backend is None:
            pytest.skip("neither jax nor torch is installed (the TF-free venv of .ci/backends has)")
    code = BLOCK_TF + """
import numpy as np
import tfau, tfau.layers, tfau.models, tfau.backbones, tfau.metrics
from tfau.models.base import masked_map_mse, binary_cross_entropy_with_logits
assert not [k for k, v in sys.modules.items() if k.startswith("tensorflow") and v is not None]
loss = binary_cross_entropy_with_logits(np.ones((2, 3), "float32"), np.zeros((2, 3), "float32"))
print("bce", float(np.mean(np.asarray(loss))))
for mod in ("tfau.data", "tfau.targets", "tfau.training", "tfau.recipes"):
    try:
        __import__(mod)
    except tfau.TensorFlowRequiredError as err:
        assert "needs TensorFlow" in str(err), err
        print("refused", mod)
    else:
        raise AssertionError(mod + " imported without TensorFlow")
"""
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert abs(float(proc.stdout.split("bce ")[1].split()[0]) - np.log(2.0)) < 1e-5
    for mod in ("tfau.data", "tfau.targets", "tfau.training", "tfau.recipes"):
        assert f"refused {mod}" in proc.stdout


@pytest.fixture
def policy(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


@not_tf
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"], indirect=True)
@pytest.mark.parametrize("name", model_names())
def test_every_model_trains(name, policy):
    """A few ``fit`` steps on the pipeline's features/targets dicts (as NumPy): finite losses,
    weights move, the loss falls; float32 outputs under mixed precision."""
    keras.utils.set_random_seed(0)
    model = build_model(name, protocol_for(name), **tu.tiny_kwargs())
    features, targets = tu.batch(model, n=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    before = [np.array(w) for w in model.trainable_weights]
    # mixed_float16: the dynamic loss scale starts at 2^15 and skips steps (halving) until the
    # gradients are finite (3 skips for the 6-way intensity variant here), so give it more steps
    epochs = 8 if policy == "mixed_float16" else 4
    history = model.fit(features, targets, batch_size=4, epochs=epochs, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], f"{name} {policy}: loss did not fall: {losses}"
    moved = sum(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights))
    assert moved >= 0.9 * len(before), f"only {moved}/{len(before)} weights changed"
    out = model(features, training=False)
    assert keras.backend.standardize_dtype(out["au"].dtype) == "float32"
    assert tuple(out["au"].shape) == (4, model.n_aus)
    assert model.compute_dtype == ("float16" if policy == "mixed_float16" else "float32")


def _tf_python():
    """The main environment's Python with TensorFlow (``TFAU_TF_PYTHON``), or None."""
    exe = os.environ.get("TFAU_TF_PYTHON")
    if not exe:
        return None
    ok = subprocess.run([exe, "-c", "import tensorflow"], capture_output=True, timeout=300)
    return exe if ok.returncode == 0 else None


@pytest.mark.skipif(BACKEND != "jax", reason="the .keras round trip is checked from JAX")
def test_keras_files_from_tensorflow_load_on_jax(tmp_path):
    """Every model saved as ``.keras`` under TensorFlow (main env, subprocess) loads here with
    outputs equal to TensorFlow's; the serving sub-model too."""
    exe = _tf_python()
    if exe is None:
        pytest.skip("set TFAU_TF_PYTHON to a Python with TensorFlow (.ci/backends does)")
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([exe, os.path.join(HERE, "save_on_tf.py"), str(tmp_path)], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    saved = json.loads((tmp_path / "index.json").read_text())
    assert sorted(saved) == sorted(model_names())
    for name, entry in saved.items():
        data = np.load(tmp_path / entry["arrays"])
        features = {k[2:]: data[k] for k in data.files if k.startswith("f_")}
        model = keras.saving.load_model(tmp_path / entry["file"])
        assert type(model).__name__ == entry["class"]
        out = model(features, training=False)
        for key in entry["outputs"]:
            np.testing.assert_allclose(np.asarray(out[key]), data["o_" + key], atol=2e-5,
                                       rtol=1e-4, err_msg=f"{name} {key}")
        served = model.serving_model()(features["image"], training=False)
        np.testing.assert_allclose(np.asarray(served["au"]), data["o_au"], atol=2e-5, rtol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="checks the command line where TensorFlow is missing")
def test_cli_says_what_needs_tensorflow(capsys):
    from tfau.cli import TF_FREE_COMMANDS, main

    assert main(["export", "--checkpoint", "run", "--output", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfau export: error: `tfau export` needs TensorFlow"), err
    assert "convert-weights" in TF_FREE_COMMANDS
