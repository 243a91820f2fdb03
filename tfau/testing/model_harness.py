"""Shared model test harness: realistic tiny batches, one-step fit, serving checks (used by every
model test and by the benchmarks)."""
from __future__ import annotations

import keras
import numpy as np

from tfau import geometry
from tfau.models.base import TINY_CONFIG

SIZE = 32  # image size of the model tests (maps 8x8); TINY_CONFIG (smoke runs, benchmarks) uses 64


def tiny_kwargs(**overrides):
    """``TINY_CONFIG`` (its backbone and width: the one tiny model size) at the tests' ``SIZE``."""
    return {**TINY_CONFIG, "image_size": SIZE, **overrides}


def landmarks(batch, image_size=SIZE, seed=0):
    """Template landmarks rescaled to ``image_size`` with a little jitter, ``[B, 68, 2]``."""
    rng = np.random.default_rng(seed)
    template = (np.asarray(geometry.TEMPLATE_68, np.float32) + 0.5) * (image_size / 256.0) - 0.5
    jitter = rng.normal(0.0, 0.01 * image_size, (batch, 68, 2))
    return (template[None] + jitter).astype(np.float32)


def batch(model, n=2, seed=0, unknown=False):
    """``(features, targets)`` NumPy dicts for ``model`` (targets from ``tfau.targets``, or from
    its NumPy twin ``tfau.testing.numpy_targets`` where TensorFlow is not installed)."""
    try:
        from tfau import targets as targets_lib
    except ImportError:  # JAX / PyTorch venv without TensorFlow (issue 15)
        from tfau.testing import numpy_targets as targets_lib

    rng = np.random.default_rng(seed)
    size = model.image_size
    a = model.n_aus
    lm = landmarks(n, size, seed)
    if model.is_intensity:
        labels = rng.integers(0, 6, (n, a)).astype(np.float32)
    else:
        labels = rng.integers(0, 2, (n, a)).astype(np.float32)
    mask = np.ones((n, a), np.float32)
    if unknown:
        mask[0, 0] = 0.0
    features = {
        "image": rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32),
        "landmarks": lm,
        "au_index": np.full((n,), a - 1, np.int32),
    }
    targets = {"labels": labels, "label_mask": mask}
    if "heatmaps" in model.required_targets:
        spec = geometry.heatmap_spec(model.protocol)
        targets["heatmaps"] = np.asarray(
            targets_lib.heatmap_targets(lm, labels, spec, image_size=size), np.float32
        )
    if "roi_maps" in model.required_targets:
        spec = geometry.roi_spec(model.protocol)
        maps, roi_mask = targets_lib.roi_targets(lm, labels, spec, image_size=size)
        targets["roi_maps"] = np.asarray(maps, np.float32)
        targets["roi_mask"] = np.asarray(roi_mask, np.float32)
    return features, targets


def fit_one_step(model, features, targets, learning_rate=1e-3, run_eagerly=False):
    """Compiles and fits one step; returns the logs dict (all finite).

    CPU test budget: no XLA, and plain SGD (graph tracing time grows with the optimizer's ops
    per variable). ``run_eagerly`` for models whose training path has no graph-specific code.
    NumPy dicts go straight to ``fit`` (one batch), so this runs on every Keras backend.
    """
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), jit_compile=False, run_eagerly=run_eagerly
    )
    n = len(next(iter(features.values())))
    history = model.fit(features, targets, batch_size=n, epochs=1, verbose=0, shuffle=False)
    logs = {k: v[-1] for k, v in history.history.items()}
    for key, value in logs.items():
        assert np.isfinite(value), f"{key} is not finite: {value}"
    return logs


def assert_serving_matches(model, features, keys=("au", "maps"), atol=1e-5):
    """``serving_model()(image)`` equals ``model(image-only features, training=False)``."""
    serving = model.serving_model()
    assert isinstance(serving, keras.Model)
    out = serving(features["image"], training=False)
    ref = model({"image": features["image"]}, training=False)
    for key in keys:
        if key in ref:
            np.testing.assert_allclose(
                np.asarray(out[key]), np.asarray(ref[key]), atol=atol, rtol=1e-5, err_msg=key
            )
    assert set(out) == {k for k in keys if k in ref}
    return serving


class _TargetsOrSkip:
    """``tfau.targets`` (TF ops) where TensorFlow is installed; elsewhere (the JAX / PyTorch venv
    of issue 15) using any of its functions skips the calling test with the reason."""

    def __getattr__(self, name):
        if name.startswith("__"):  # pytest's collection probes __wrapped__ etc.: not a use
            raise AttributeError(name)
        try:
            from tfau import targets
        except ImportError as err:
            import pytest

            pytest.skip(f"uses tfau.targets.{name}, which needs TensorFlow: {err}")
        return getattr(targets, name)


tf_targets = _TargetsOrSkip()
