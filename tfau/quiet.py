"""Quiet TensorFlow start-up for tfau's commands (the CLI, the trainer, worker processes).

TensorFlow prints 7-10 lines when it starts: C++ logging that ``TF_CPP_MIN_LOG_LEVEL`` controls
(``E0000 ... failed call to cuInit`` on CPU-only machines, oneDNN notices) and a few lines written
to file descriptor 2 before absl's logging is initialised (``cudart_stub.cc: Could not find cuda
drivers``), which no environment variable silences. :func:`quiet_tensorflow` sets the level
before TensorFlow is imported (children inherit it) and imports TensorFlow with descriptor 2
captured, replaying every captured line that is not such start-up noise. ``verbose=True`` (the
CLI's ``--verbose``) leaves everything as TensorFlow has it. A ``TF_CPP_MIN_LOG_LEVEL`` the
user set is kept.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"All log messages before absl::InitializeLog|cudart_stub\.cc|cuda_platform\.cc|"
    r"failed call to cuInit|cuda_dnn\.cc|cuda_fft\.cc|cuda_blas\.cc|Unable to register cu|"
    r"computation_placer\.cc|oneDNN custom operations are on|TF_ENABLE_ONEDNN_OPTS|"
    r"cpu_feature_guard\.cc|This TensorFlow binary is optimized|rebuild TensorFlow with|"
    r"Could not find cuda drivers|TF-TRT Warning|absl::InitializeLog")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Silences TensorFlow's start-up logging (idempotent); call before importing TF."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:  # a JAX/PyTorch-only environment
        return
    captured = _import_capturing_stderr()
    for line in captured.splitlines():
        if line.strip() and not NOISE.search(line):
            sys.stderr.write(line + "\n")
    try:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    except Exception:  # noqa: BLE001 - logging only
        pass


def _import_capturing_stderr() -> str:
    """Imports TensorFlow with file descriptor 2 sent to a temporary file; returns its text."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks: no real fd
        import tensorflow  # noqa: F401

        return ""
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            import tensorflow  # noqa: F401
            import tensorflow as tf

            tf.constant(0)  # device initialisation (the cuInit line) happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")
