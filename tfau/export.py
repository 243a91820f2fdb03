"""SavedModel export with serving signatures, and a small loader for the exported models.

An exported tfau model is a plain TensorFlow SavedModel (no tfau or Keras needed to serve it):

``serving_default``
    ``images``: uint8 ``[batch, H, H, 3]`` aligned RGB faces in tfau's 256x256 alignment frame
    (``tfau.face.FaceAligner``; any square size, resized to the model's ``image_size`` inside)
    -> ``au``: float32 ``[batch, A]`` (intensity 0-5, or occurrence probability) and, for
    methods with maps, ``maps``: float32 ``[batch, image_size/4, image_size/4, P]``.
``serve_bytes``
    ``image_bytes``: string ``[batch]`` encoded JPEG/PNG/BMP/GIF aligned faces -> same outputs.
``metadata``
    no input -> ``au_names`` (string ``[A]``), ``aus`` (int32 ``[A]``), ``protocol``, ``task``,
    ``method`` (string scalars), ``image_size`` (int32) and ``json`` (all metadata as JSON).

The same metadata is written to ``assets.extra/tfau.json`` so tools can read it without loading
the graph. Wrong shapes fail with a ``tfau:``-prefixed message (``tf.debugging`` asserts).
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
from typing import Any, Dict, Mapping, Optional

import numpy as np

METADATA_FILE = os.path.join("assets.extra", "tfau.json")
INPUT_SIZE = 256  # tfau.face's alignment frame; any square size is accepted


def _serving(model):
    """The inference model (training-only branches removed) of a tfau model."""
    return model.serving_model() if hasattr(model, "serving_model") else model


def build_metadata(protocol, image_size: int, method: str, outputs: Mapping[str, Any],
                   extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    import tfau

    meta = {
        "format": "tfau-savedmodel-1",
        "tfau_version": tfau.__version__,
        "method": method,
        "protocol": protocol.name,
        "dataset": protocol.dataset,
        "task": protocol.task,
        "aus": [int(a) for a in protocol.aus],
        "au_names": list(protocol.au_names),
        "threshold": protocol.threshold,
        "image_size": int(image_size),
        "input": "uint8 RGB aligned faces [batch, H, H, 3] in tfau's 256x256 alignment frame",
        "outputs": {k: list(v) for k, v in outputs.items()},
        "au_output": ("intensity 0-5" if protocol.task == "intensity"
                      else "occurrence probability 0-1 (positive when >= 0.5)"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        meta.update({k: v for k, v in extra.items() if k not in meta})
    return meta


def _serving_functions(serving, meta: Dict[str, Any]):
    """The three endpoint functions (plain Python; ``ExportArchive`` traces them)."""
    import tensorflow as tf

    size = int(meta["image_size"])
    has_maps = "maps" in meta["outputs"]
    meta_json = json.dumps(meta, sort_keys=True)

    def run(images_float):
        out = serving(images_float, training=False)
        result = {"au": tf.cast(out["au"], tf.float32)}
        if has_maps:
            result["maps"] = tf.cast(out["maps"], tf.float32)
        return result

    def to_model_size(images):
        images = tf.cast(images, tf.float32)
        same = tf.logical_and(tf.equal(tf.shape(images)[1], size),
                              tf.equal(tf.shape(images)[2], size))
        return tf.cond(same, lambda: tf.ensure_shape(images, [None, size, size, 3]),
                       lambda: tf.image.resize(images, [size, size], method="bilinear",
                                               antialias=True))

    def serve(images):
        shape = tf.shape(images)
        checks = [
            tf.debugging.assert_equal(
                shape[3], 3, message="tfau: images must be RGB uint8 [batch, H, H, 3]; the "
                                     "last dimension is not 3"),
            tf.debugging.assert_equal(
                shape[1], shape[2], message="tfau: images must be square aligned faces "
                                            "[batch, H, H, 3] (tfau.face.FaceAligner output)"),
            tf.debugging.assert_greater_equal(
                shape[1], 16, message="tfau: aligned faces must be at least 16x16 pixels"),
        ]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
        images = tf.ensure_shape(images, [None, None, None, 3])
        return run(to_model_size(images))

    def serve_bytes(image_bytes):
        def decode(data):
            img = tf.io.decode_image(data, channels=3, expand_animations=False)
            img.set_shape([None, None, 3])
            return to_model_size(img[None])[0]

        images = tf.map_fn(decode, image_bytes,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return run(images)

    def metadata():
        return {
            "au_names": tf.constant(meta["au_names"], tf.string),
            "aus": tf.constant(meta["aus"], tf.int32),
            "protocol": tf.constant(meta["protocol"]),
            "task": tf.constant(meta["task"]),
            "method": tf.constant(meta["method"]),
            "image_size": tf.constant(size, tf.int32),
            "json": tf.constant(meta_json),
        }

    return serve, serve_bytes, metadata


def export_saved_model(model, path: str, *, protocol, image_size: int, method: str,
                       extra_metadata: Optional[Mapping[str, Any]] = None,
                       overwrite: bool = True) -> str:
    """Exports a tfau model (or its ``serving_model()``) as a SavedModel at ``path``.

    Args:
      model: a model from ``tfau.models.build_model`` (its ``serving_model()`` is exported) or a
        Keras model mapping float images ``[B, S, S, 3]`` (0..255) to ``{"au", "maps"?}``.
      path: output folder (replaced when ``overwrite``).
      protocol: the ``tfau.aus.Protocol`` the model predicts.
      image_size: the model's input size ``S``.
      method: method name recorded in the metadata.
      extra_metadata: more JSON-able fields for the metadata (dataset, fold, run folder...).
    Returns:
      ``path``.
    """
    import keras
    import tensorflow as tf

    serving = _serving(model)
    probe = serving(tf.zeros([1, image_size, image_size, 3], tf.float32), training=False)
    if not isinstance(probe, Mapping) or "au" not in probe:
        raise ValueError("the serving model must return a dict with an 'au' output")
    if int(probe["au"].shape[-1]) != protocol.n_aus:
        raise ValueError(f"model predicts {probe['au'].shape[-1]} AUs; protocol {protocol.name} "
                         f"has {protocol.n_aus}")
    outputs = {"au": [None, protocol.n_aus]}
    if "maps" in probe:
        outputs["maps"] = [None] + [int(d) for d in probe["maps"].shape[1:]]
    meta = build_metadata(protocol, image_size, method, outputs, extra_metadata)
    serve, serve_bytes, metadata = _serving_functions(serving, meta)
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{path} exists (overwrite=False)")
        shutil.rmtree(path)
    # keras.export.ExportArchive tracks exactly the variables the endpoints use, which keeps the
    # SavedModel loadable by TF1-style session loaders too (saved_model_cli run, TF Serving).
    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
    archive.add_endpoint("serve_bytes", serve_bytes, input_signature=[
        tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint("metadata", metadata, input_signature=[])
    archive.write_out(path, verbose=False)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=1)
    return path


def read_metadata(path: str) -> Dict[str, Any]:
    """Metadata of an exported model (from ``assets.extra/tfau.json``, else the signature)."""
    file = os.path.join(path, METADATA_FILE)
    if os.path.exists(file):
        with open(file) as f:
            return json.load(f)
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    return json.loads(loaded.signatures["metadata"]()["json"].numpy().decode())


class Predictor:
    """A loaded tfau SavedModel: ``Predictor(path).predict(uint8 faces) -> {"au", "maps"?}``."""

    def __init__(self, path: str):
        import tensorflow as tf

        if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
        self.path = path
        self._loaded = tf.saved_model.load(path)
        if "serving_default" not in self._loaded.signatures:
            raise ValueError(f"{path} has no serving_default signature")
        self._serve = self._loaded.signatures["serving_default"]
        self._serve_bytes = self._loaded.signatures.get("serve_bytes")
        self.metadata = read_metadata(path)
        self.au_names = list(self.metadata["au_names"])
        self.task = self.metadata["task"]
        self.image_size = int(self.metadata["image_size"])
        self.has_maps = "maps" in self.metadata.get("outputs", {})

    def predict(self, images) -> Dict[str, np.ndarray]:
        """``images``: uint8 ``[B, H, H, 3]`` (or one ``[H, H, 3]``) aligned RGB faces."""
        import tensorflow as tf

        images = np.asarray(images)
        single = images.ndim == 3
        if single:
            images = images[None]
        if images.dtype != np.uint8:
            raise TypeError(f"tfau: images must be uint8 RGB (0..255); got {images.dtype}")
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"tfau: images must be [batch, H, H, 3] aligned faces; got shape "
                             f"{images.shape}")
        out = self._serve(images=tf.constant(images))
        out = {k: v.numpy() for k, v in out.items()}
        return {k: v[0] for k, v in out.items()} if single else out

    def predict_bytes(self, encoded) -> Dict[str, np.ndarray]:
        import tensorflow as tf

        if self._serve_bytes is None:
            raise ValueError(f"{self.path} has no serve_bytes signature")
        out = self._serve_bytes(image_bytes=tf.constant(list(encoded), tf.string))
        return {k: v.numpy() for k, v in out.items()}


def load(path: str) -> Predictor:
    return Predictor(path)


def export_checkpoint(checkpoint: str, output: str) -> str:
    """Exports a training checkpoint (a run folder, or a ``*.weights.h5`` inside one).

    The run folder's ``run.json`` (written by the trainer) says how to rebuild the model.
    """
    import keras

    from tfau import aus as aus_lib
    from tfau.training import trainer

    if os.path.isdir(checkpoint):
        run_dir = checkpoint
        weights = None
        for cand in (trainer.FINAL_WEIGHTS, os.path.join("checkpoints", "best.weights.h5"),
                     os.path.join("checkpoints", "last.weights.h5")):
            if os.path.exists(os.path.join(run_dir, cand)):
                weights = os.path.join(run_dir, cand)
                break
        if weights is None:
            raise FileNotFoundError(f"no weights (*.weights.h5) in run folder {run_dir}")
    else:
        weights = checkpoint
        if not weights.endswith(".weights.h5"):
            raise ValueError(f"--checkpoint must be a run folder or a *.weights.h5 file: {weights}")
        run_dir = os.path.dirname(os.path.abspath(weights))
        if os.path.basename(run_dir) == "checkpoints":
            run_dir = os.path.dirname(run_dir)
    run_file = os.path.join(run_dir, trainer.RUN_FILE)
    if not os.path.exists(run_file):
        raise FileNotFoundError(f"{run_file} not found: --checkpoint must come from a tfau run "
                                "folder (train_scripts/*.py writes run.json)")
    with open(run_file) as f:
        run = json.load(f)
    keras.mixed_precision.set_global_policy("float32")
    model = trainer.build_from_run(run)
    model.load_weights(weights)
    protocol = aus_lib.get_protocol(run["protocol"], run.get("threshold"))
    return export_saved_model(
        model, output, protocol=protocol, image_size=run["image_size"], method=run["method"],
        extra_metadata={"dataset": run.get("dataset"), "config": run.get("config"),
                        "fold": run.get("fold") or 0, "run_dir": run_dir,
                        "checkpoint": os.path.abspath(weights)})
