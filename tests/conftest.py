"""Shared fixtures of the end-to-end tests: a miniature synthetic_au and a tiny SavedModel.

The miniature dataset is the real synthetic_au builder with a custom config (6 identities x 2
sequences x 4 frames = 48 examples, 16 per fold) written under a temporary ``data_dir``; the
trainer and ``tfau.data`` read it by name (``synthetic_au/<protocol>_tiny``) from the files.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SIZE = dict(n_identities=6, n_sequences=2, n_frames=4)


def build_tiny_synthetic(data_dir: str, protocol: str, **size) -> str:
    """Builds ``synthetic_au/<protocol>_tiny`` into ``data_dir``; returns the config name."""
    from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sb

    name = f"{protocol}_tiny"
    if os.path.exists(os.path.join(data_dir, "synthetic_au", name)):
        return name
    kwargs = {**TINY_SIZE, **size}
    if protocol.startswith("bp4d"):
        kwargs.setdefault("unknown_rate", 0.02)
    cfg = sb.SyntheticAuConfig(name=name, protocol=protocol, **kwargs)
    sb.Builder(config=cfg, data_dir=data_dir).download_and_prepare()
    return name


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A data_dir with synthetic_au/{disfa_intensity,bp4d_occurrence}_tiny (built lazily)."""
    path = str(tmp_path_factory.mktemp("tfds"))
    for protocol in ("disfa_intensity", "bp4d_occurrence"):
        build_tiny_synthetic(path, protocol)
    return path


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory):
    """An untrained ResNet-Deconv (DISFA intensity, 12 AUs, 32 px) exported as a SavedModel."""
    from tfau import aus, export
    from tfau.models import build_tiny_model

    protocol = aus.get_protocol("disfa_intensity")
    model = build_tiny_model("resnet_deconv", protocol, image_size=32)
    # an untrained head predicts ~0 everywhere: give it weights that make outputs differ
    rng = np.random.RandomState(0)
    model.map_head.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                                for w in model.map_head.get_weights()])
    path = str(tmp_path_factory.mktemp("export") / "resnet_deconv_tiny")
    export.export_saved_model(model, path, protocol=protocol, image_size=32,
                              method="resnet_deconv", extra_metadata={"dataset": "test"})
    return path


def _run_python(args, env=None, timeout=600, cwd=REPO, check=True):
    """Runs ``python args...`` in a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + list(args), cwd=cwd, env=full_env, timeout=timeout,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\n"
                             f"STDERR:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture
def run_python():
    """``run_python(args, env=None, timeout=600, cwd=REPO, check=True)`` -> CompletedProcess."""
    return _run_python


@pytest.fixture(scope="session")
def run_python_session():
    """``run_python`` for module/session-scoped fixtures."""
    return _run_python
