import json

import pytest
import tensorflow as tf

from tfau.training import strategy as strategy_lib


def test_single_process_defaults(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_lib.tf_config() is None
    assert strategy_lib.is_chief()
    s = strategy_lib.make_strategy()
    assert s.num_replicas_in_sync == 1
    assert strategy_lib.resolve_precision("auto") == (
        "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32")


def test_chief_from_tf_config(monkeypatch):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    assert not strategy_lib.is_chief()
    assert strategy_lib.worker_id() == "worker1"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 0}}))
    assert strategy_lib.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategy_lib.tf_config()


def test_bad_precision():
    with pytest.raises(ValueError):
        strategy_lib.resolve_precision("float8")


def test_resolve_jit(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    gpus = tf.config.list_physical_devices("GPU")
    assert strategy_lib.resolve_jit("true", deterministic=True)
    assert not strategy_lib.resolve_jit("false", deterministic=False)
    # auto: XLA on for one device (CPU included); off on GPU when determinism is asked for
    assert strategy_lib.resolve_jit("auto", deterministic=False) == (len(gpus) <= 1)
    assert strategy_lib.resolve_jit("auto", deterministic=True) == (not gpus)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert not strategy_lib.resolve_jit("auto", deterministic=False)  # several workers: Keras' default
