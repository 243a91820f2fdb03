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
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from tfau import require_tensorflow  # TF imported where used (issue 15)

METADATA_FILE = os.path.join("assets.extra", "tfau.json")
INPUT_SIZE = 256  # tfau.face's alignment frame; any square size is accepted


class ExportTargetError(FileExistsError):
    """The export's output folder exists and may not be replaced (the message names it)."""


def is_tfau_saved_model(path: str) -> bool:
    """True when ``path`` is a folder holding a tfau SavedModel (``saved_model.pb`` and
    ``assets.extra/tfau.json`` with ``format`` ``tfau-savedmodel-*``)."""
    if not os.path.isdir(path) or not os.path.isfile(os.path.join(path, "saved_model.pb")):
        return False
    try:
        with open(os.path.join(path, METADATA_FILE)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("tfau-savedmodel")


def check_export_target(path: str, replace: bool = False) -> str:
    """Checks that a SavedModel may be written at ``path``; returns its absolute path.

    Allowed: a path that does not exist, an empty folder, or - only with ``replace=True`` - a
    folder that already holds a tfau SavedModel. Anything else (a file, a folder with other
    content such as ``saved_models/`` or ``.``, a tfau SavedModel without ``replace``) raises
    :class:`ExportTargetError` naming the folder. Nothing is deleted here; the trainer's export
    calls this before training, :func:`export_saved_model` again before writing.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.lexists(path):
        return path
    if not os.path.isdir(path) or os.path.islink(path):
        raise ExportTargetError(f"export folder {path} exists and is not a folder; choose "
                                "another --output")
    if not os.listdir(path):
        return path
    if is_tfau_saved_model(path):
        if replace:
            return path
        raise ExportTargetError(f"export folder {path} already holds a tfau SavedModel; pass "
                                "--overwrite (replace=True) to replace it, or choose another "
                                "--output")
    raise ExportTargetError(f"export folder {path} exists and is not a tfau SavedModel; refusing "
                            "to write into it or delete it. Choose a new or empty folder")


def _replace_folder(tmp: str, path: str) -> None:
    """Moves the finished export ``tmp`` to ``path``; an old model there is removed only after
    the new one is complete (renamed aside first, so a crash leaves one of the two)."""
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    old = None
    if os.path.lexists(path):
        old = f"{path}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


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
        "protocol_dataset": protocol.dataset,
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
    extra = dict(extra or {})
    # Model card: the data the weights were fitted on (the protocol's dataset only names the AU
    # set: a synthetic_au/disfa_intensity model predicts DISFA's AUs but never saw DISFA).
    trained_on = extra.pop("dataset", None)
    config = extra.get("config")
    meta["trained_on"] = (f"{trained_on}/{config}" if trained_on and config else trained_on)
    meta["trained_on_synthetic"] = bool(trained_on and str(trained_on).startswith("synthetic"))
    if trained_on:
        meta["dataset"] = trained_on
    meta.update({k: v for k, v in extra.items() if k not in meta})
    return meta


def _serving_functions(serving, meta: Dict[str, Any]):
    """The three endpoint functions (plain Python; ``ExportArchive`` traces them)."""
    tf = require_tensorflow("SavedModel export and loading (tfau.export)")

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
        # No tf.ensure_shape inside the cond: inside serve_bytes' map_fn loop it also ran for
        # images that take the resize branch and failed for every size but the model's.
        out = tf.cond(same, lambda: images,
                      lambda: tf.image.resize(images, [size, size], method="bilinear",
                                              antialias=True))
        out.set_shape([None, size, size, 3])
        return out

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
            padded = tf.strings.join([data, b"\0" * 12])  # substr fails past the end
            head = tf.strings.substr(padded, 0, 4)
            known = tf.reduce_any(tf.stack([
                tf.io.is_jpeg(data), tf.equal(head, b"\x89PNG"),
                tf.equal(tf.strings.substr(padded, 0, 3), b"GIF"),
                tf.equal(tf.strings.substr(padded, 0, 2), b"BM"),
                tf.logical_and(tf.equal(head, b"RIFF"),
                               tf.equal(tf.strings.substr(padded, 8, 4), b"WEBP"))]))
            check = tf.debugging.Assert(known, [tf.constant(
                "tfau: an image_bytes element is not a JPEG, PNG, GIF, BMP or WebP image")])
            with tf.control_dependencies([check]):
                data = tf.identity(data)
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
      path: output folder: new or empty, or (only with ``overwrite``) an existing tfau
        SavedModel, which is replaced once the new export is complete. Anything else raises
        :class:`ExportTargetError` naming the folder (see :func:`check_export_target`).
      protocol: the ``tfau.aus.Protocol`` the model predicts.
      image_size: the model's input size ``S``.
      method: method name recorded in the metadata.
      extra_metadata: more JSON-able fields for the metadata (dataset, fold, run folder...).
    Returns:
      ``path``.
    """
    import keras
    tf = require_tensorflow("SavedModel export and loading (tfau.export)")

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
    target = check_export_target(path, replace=overwrite)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp-{os.getpid()}")
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    # keras.export.ExportArchive tracks exactly the variables the endpoints use, which keeps the
    # SavedModel loadable by TF1-style session loaders too (saved_model_cli run, TF Serving).
    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
    archive.add_endpoint("serve_bytes", serve_bytes, input_signature=[
        tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint("metadata", metadata, input_signature=[])
    try:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(meta, f, indent=1)
        check_export_target(target, replace=overwrite)  # still allowed after the write
        _replace_folder(tmp, target)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return path


class ModelError(ValueError):
    """A model folder or file that is not a usable tfau model (the message names it)."""


def _check_metadata(meta, source: str) -> Dict[str, Any]:
    if not isinstance(meta, dict):
        raise ModelError(f"{source}: tfau metadata must be a JSON object")
    missing = [k for k in ("au_names", "task", "image_size", "protocol") if k not in meta]
    if missing:
        raise ModelError(f"{source}: tfau metadata lacks {missing}; re-export the model with "
                         "`tfau export`")
    return meta


def read_metadata(path: str) -> Dict[str, Any]:
    """Metadata of an exported model (from ``assets.extra/tfau.json``, else the signature).

    Raises:
      FileNotFoundError: ``path`` is not a SavedModel folder.
      ModelError: a SavedModel that is not tfau's, or corrupt metadata (naming the file).
    """
    if not os.path.isdir(path) or not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    file = os.path.join(path, METADATA_FILE)
    if os.path.exists(file):
        try:
            with open(file, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            raise ModelError(f"{file}: corrupt tfau metadata ({e}); re-export the model with "
                             "`tfau export`") from None
        return _check_metadata(meta, file)
    loaded = _load_saved_model(path)
    if "metadata" not in loaded.signatures:
        raise ModelError(f"{path} is a SavedModel but not a tfau one (no metadata signature and "
                         f"no {METADATA_FILE}); export tfau models with `tfau export`")
    try:
        meta = json.loads(loaded.signatures["metadata"]()["json"].numpy().decode())
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{path}: its metadata signature is unreadable ({e})") from None
    return _check_metadata(meta, f"{path} (metadata signature)")


def _load_saved_model(path: str):
    tf = require_tensorflow("SavedModel export and loading (tfau.export)")

    try:
        return tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 - DataLossError, ParseError, NotFoundError...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: the SavedModel cannot be loaded; its saved_model.pb or "
                         f"variables/ files are corrupt or incomplete ({type(e).__name__}: "
                         f"{msg[:300]})") from None


def aligned_batch(images) -> Tuple[np.ndarray, bool]:
    """``images`` (one ``[H, H, 3]`` or a batch ``[B, H, H, 3]`` of uint8 aligned RGB faces) as a
    batch, and whether one image was given; a clear error for any other dtype or shape."""
    images = np.asarray(images)
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.dtype != np.uint8:
        raise TypeError(f"tfau: images must be uint8 RGB (0..255); got {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"tfau: images must be [batch, H, H, 3] aligned faces; got shape "
                         f"{images.shape}")
    return images, single


class Predictor:
    """A loaded tfau SavedModel: ``Predictor(path).predict(uint8 faces) -> {"au", "maps"?}``."""

    def __init__(self, path: str):
        tf = require_tensorflow("SavedModel export and loading (tfau.export)")

        if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
        self.path = path
        self.metadata = read_metadata(path)  # first: a non-tfau model fails before loading
        self._loaded = _load_saved_model(path)
        if "serving_default" not in self._loaded.signatures:
            raise ModelError(f"{path} has no serving_default signature")
        self._serve = self._loaded.signatures["serving_default"]
        self._serve_bytes = self._loaded.signatures.get("serve_bytes")
        del tf
        self.au_names = list(self.metadata["au_names"])
        self.task = self.metadata["task"]
        self.image_size = int(self.metadata["image_size"])
        self.has_maps = "maps" in self.metadata.get("outputs", {})

    def predict(self, images) -> Dict[str, np.ndarray]:
        """``images``: uint8 ``[B, H, H, 3]`` (or one ``[H, H, 3]``) aligned RGB faces."""
        tf = require_tensorflow("SavedModel export and loading (tfau.export)")

        images, single = aligned_batch(images)
        if len(images) == 0:  # an empty batch: empty outputs, no model call
            out = {"au": np.zeros([0, len(self.au_names)], np.float32)}
            if self.has_maps:
                out["maps"] = np.zeros([0] + [int(d) for d in
                                              self.metadata["outputs"]["maps"][1:]], np.float32)
            return out
        out = self._serve(images=tf.constant(images))
        out = {k: v.numpy() for k, v in out.items()}
        return {k: v[0] for k, v in out.items()} if single else out

    def predict_bytes(self, encoded) -> Dict[str, np.ndarray]:
        tf = require_tensorflow("SavedModel export and loading (tfau.export)")

        if self._serve_bytes is None:
            raise ValueError(f"{self.path} has no serve_bytes signature")
        encoded = [bytes(e) for e in encoded]
        for i, data in enumerate(encoded):
            if not data:
                raise ValueError(f"tfau: image_bytes[{i}] is empty")
        if not encoded:
            return self.predict(np.zeros([0, self.image_size, self.image_size, 3], np.uint8))
        try:
            out = self._serve_bytes(image_bytes=tf.constant(encoded, tf.string))
        except tf.errors.InvalidArgumentError as e:
            lines = [ln for ln in str(e).splitlines() if "tfau:" in ln or "Unknown image" in ln]
            raise ValueError(lines[0].strip() if lines else str(e).strip().splitlines()[-1]) \
                from None
        return {k: v.numpy() for k, v in out.items()}


def load(path: str) -> Predictor:
    return Predictor(path)


def model_from_run(run: Dict[str, Any], weights: str):
    """The float32 model a run (``run.json`` contents) describes, with ``weights`` loaded;
    ``ModelError`` naming the weights file when they do not load."""
    import keras

    from tfau import runs as runs_lib

    keras.mixed_precision.set_global_policy("float32")
    model = runs_lib.build_from_run(run)
    try:
        model.load_weights(weights)
    except Exception as e:  # noqa: BLE001 - h5py OSError, ValueError on mismatched layers
        raise ModelError(f"{weights}: cannot load the weights ({type(e).__name__}: "
                         f"{str(e).strip()[:300]})") from None
    return model


def export_checkpoint(checkpoint: str, output: str, overwrite: bool = False) -> str:
    """Exports a training checkpoint (a run folder, or a ``*.weights.h5`` inside one).

    The run folder's ``run.json`` (written by the trainer) says how to rebuild the model.
    ``output`` follows :func:`check_export_target` (checked before anything is built).
    """
    from tfau import aus as aus_lib
    from tfau import runs as runs_lib

    check_export_target(output, replace=overwrite)

    if os.path.isdir(checkpoint):
        run_dir = checkpoint
        weights = None
        for cand in runs_lib.WEIGHT_CANDIDATES:
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
    run_file = os.path.join(run_dir, runs_lib.RUN_FILE)
    if not os.path.exists(run_file):
        raise FileNotFoundError(f"{run_file} not found: --checkpoint must come from a tfau run "
                                "folder (train_scripts/*.py writes run.json)")
    try:
        with open(run_file) as f:
            run = json.load(f)
    except (OSError, ValueError) as e:
        raise ModelError(f"{run_file}: unreadable run file ({e})") from None
    model = model_from_run(run, weights)
    protocol = aus_lib.get_protocol(run["protocol"], run.get("threshold"))
    return export_saved_model(
        model, output, protocol=protocol, image_size=run["image_size"], method=run["method"],
        extra_metadata={"dataset": run.get("dataset"), "config": run.get("config"),
                        "fold": run.get("fold") or 0, "run_dir": run_dir,
                        "checkpoint": os.path.abspath(weights)}, overwrite=overwrite)
