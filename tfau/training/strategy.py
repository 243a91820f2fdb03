"""Distribution strategy, precision and determinism, chosen from the environment.

* ``TF_CONFIG`` set (a cluster of workers) -> ``tf.distribute.MultiWorkerMirroredStrategy``
* more than one local GPU                   -> ``tf.distribute.MirroredStrategy``
* otherwise                                 -> ``tf.distribute.OneDeviceStrategy`` on GPU:0 or CPU:0

Precision: ``mixed_float16`` when a GPU is visible, ``float32`` on CPU (``--precision`` overrides).
"""
from __future__ import annotations

import json
import os
from typing import Optional

import keras
import tensorflow as tf

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def tf_config() -> Optional[dict]:
    """The parsed ``TF_CONFIG`` environment variable, or None when unset or empty."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not config.get("cluster"):
        return None
    return config


def make_strategy() -> tf.distribute.Strategy:
    """The strategy for this process (must run before any other TensorFlow op)."""
    if tf_config() is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def describe(strategy: tf.distribute.Strategy) -> str:
    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # its class is CollectiveAllReduceStrategy
    return f"{name} with {strategy.num_replicas_in_sync} replica(s)"


def is_chief(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
    """True on the process that writes results, checkpoints and exports.

    In a TF_CONFIG cluster the chief is task ``chief``/0, or ``worker``/0 when no chief is listed.
    """
    config = tf_config()
    if config is None:
        return True
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def worker_id() -> str:
    config = tf_config()
    if config is None:
        return "single"
    task = config.get("task", {})
    return f"{task.get('type', 'worker')}{int(task.get('index', 0))}"


def resolve_precision(precision: str = "auto") -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return precision


def set_precision(precision: str = "auto") -> str:
    """Sets Keras's global dtype policy; returns the policy name used."""
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def resolve_jit(jit: str, deterministic: bool) -> bool:
    """``--jit auto|true|false`` -> whether Keras compiles the steps with XLA.

    auto = on for one-device runs, CPU included (Keras' own "auto" turns XLA off on CPU-only
    machines; on the 2-core CPU the main job's G2RL step went from 260 to 152 ms with it, the
    optimizer's and the heads' elementwise ops being fused), off with several GPUs or workers
    (Keras' default there) and off on GPU when deterministic ops are asked for (XLA's GPU
    scatters are not deterministic, and Keras refuses XLA under TF's op-determinism switch).
    """
    if jit != "auto":
        return jit == "true"
    gpus = tf.config.list_physical_devices("GPU")
    if tf_config() is not None or len(gpus) > 1:  # make_strategy's multi-worker / mirrored cases
        return False
    return not (gpus and deterministic)


def set_determinism(seed: int, deterministic: bool, xla: bool = False) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras; optionally makes TF ops deterministic.

    With XLA on a CPU-only machine TF's op-determinism switch stays off: Keras turns XLA off
    whenever that switch is on, and it is not needed there: XLA's CPU code partitions its loops
    the same way on every run and the TF CPU kernels outside it (tf.data's seeded augmentation)
    are deterministic already. tests/test_resume.py checks it: a killed and resumed run ends
    with the same weights (to 1e-6) as an uninterrupted one, with XLA on.
    """
    keras.utils.set_random_seed(seed)
    if deterministic and not (xla and not tf.config.list_physical_devices("GPU")):
        tf.config.experimental.enable_op_determinism()


def prebuild_for_replicas(model, strategy, ds) -> None:
    """Builds the optimizer and metrics from a local batch before ``fit``.

    Keras 3.15's ``fit`` builds them from a first distributed batch, which fails on dict
    features under multi-replica strategies ("Attempt to convert a value ({'image': PerReplica
    ...}) ... to a Tensor"); building here and skipping that step avoids it.
    """
    batch = next(iter(ds))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)  # noqa: SLF001 - see docstring
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None  # noqa: SLF001


def vector_logs(model) -> None:
    """Makes train/test steps return ``[1]``-shaped logs under MultiWorkerMirroredStrategy.

    Keras 3 reduces multi-worker step logs with ``strategy.reduce("MEAN", v, axis=0)``, which
    fails on scalar logs ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388); a ``[1]`` vector reduces to the same mean.
    """
    import tensorflow as tf

    def wrap(step):
        def vector_step(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        return vector_step

    model.train_step = wrap(model.train_step)
    model.test_step = wrap(model.test_step)


def data_sharded(ds):
    """Shard by element between workers (file sharding would give workers uneven step counts:
    a split may have fewer files than there are workers)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
