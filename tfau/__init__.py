"""tfau: facial Action Unit estimation in TensorFlow / Keras 3.

Importing ``tfau`` is cheap: TensorFlow, OpenCV and dlib are imported only by the
submodules that need them (``tfau.face`` imports cv2/dlib on first use).

Backends (issue 15): ``tfau.layers``, ``tfau.models``, ``tfau.backbones``, the models' losses and
``tfau.metrics`` use ``keras.ops`` only and import no TensorFlow, so they run under
``KERAS_BACKEND=jax`` and ``KERAS_BACKEND=torch`` with TensorFlow not installed. The
TensorFlow-only parts (``tfau.data``: tf.data pipelines and TFDS; ``tfau.targets``;
``tfau.training`` and the recipes; ``tfau.export``: SavedModels; the ``tfau`` command line) call
:func:`require_tensorflow` when imported, which names the part and what to install.
"""

__version__ = "0.1.0"

from tfau import aus  # noqa: F401  (pure Python catalogue)


class TensorFlowRequiredError(ImportError):
    """A TensorFlow-only part of tfau was imported where TensorFlow cannot be imported."""


def require_tensorflow(what: str):
    """Imports and returns ``tensorflow``; without it raises :class:`TensorFlowRequiredError`
    naming ``what`` (the part of tfau that needs it) and the parts that do not."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise TensorFlowRequiredError(
            f"{what} needs TensorFlow, which cannot be imported here ({err}). Install it with "
            "`pip install tensorflow==2.21.0` (or `pip install -e .`). Without TensorFlow, on "
            "KERAS_BACKEND=jax or torch, tfau.layers, tfau.models, tfau.backbones, tfau.metrics "
            "and the models' losses work; feed model.fit NumPy batches.") from err
    return tf


__all__ = ["Detector", "read_results", "aus", "TensorFlowRequiredError", "require_tensorflow"]


def __getattr__(name):
    # ``tfau.Detector`` / ``tfau.read_results`` without importing TensorFlow on ``import tfau``
    # (issue 16)
    if name in ("Detector", "read_results"):
        from tfau import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'tfau' has no attribute {name!r}")
