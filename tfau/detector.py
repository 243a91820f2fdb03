"""``tfau.Detector``: faces in, an OpenFace-style table of Action Units out (py-feat's
``Detector().detect_image()`` is the model).

    import tfau
    det = tfau.Detector("saved_models/g2rl_synthetic_au_disfa_intensity_fold1")
    df = det.detect("photo.jpg")             # or a folder, a video, an RGB array, a batch, a list
    df[["face_id", "confidence", "AU12_r"]]
    tfau.read_results("out/photo.csv")       # a CSV written by `tfau predict`, as the same table

One row per face per frame (a frame without a face, an unreadable file or an undecodable video
frame is one row with ``success = 0`` and a ``status`` saying which). The columns
(:func:`columns`, listed in the README):

``frame``        1-based frame number (the file's rank in natural order for a folder)
``file``         folder inputs only: the image file of that frame
``face_id``      the face's track: the same person keeps the id across the frames of a video or
                 folder (greedy IoU matching of face boxes, :class:`IouTracker`); in a single
                 image or an array batch, the size rank within the frame (0 = largest)
``timestamp``    seconds from the video's start (frame rate from the container); 0 for images
``confidence``   0-1 detection confidence, a logistic squashing of dlib's detection score
                 (:func:`confidence_of`; 0.5 at score 0.5, 0.18 at the astronaut photo's
                 mission patch, > 0.95 for clear frontal faces). A documented monotone scale,
                 not a calibrated probability; ``detector_score`` keeps dlib's raw score
``success``      1 when a face was found and its AUs predicted
``status``       ``ok``, ``no_face``, ``too_small`` (image side < 32 px), ``unreadable`` (a file
                 inside a folder that cannot be decoded), ``bad_frame`` (an undecodable video
                 frame, skipped; reading goes on)
``face_x, face_y, face_width, face_height``   the detector's face box in source pixels
``x_0..x_67, y_0..y_67``   dlib's 68 landmarks in source pixels (iBUG order, 0-based)
``AUxx_r``       intensity models: predicted intensity 0-5
``AUxx_c``       presence 0/1: intensity >= ``presence_threshold`` (default 1, FACS level A), or
                 occurrence probability >= 0.5
``AUxx_p``       occurrence models: probability 0-1

This module is on the serving side: it loads SavedModels (``tfau.export``), ``.keras`` files
and run folders (``tfau.runs``) and never imports the trainer.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from tfau import face as face_lib

__all__ = ["Detector", "read_results", "columns", "confidence_of", "IouTracker", "InputError",
           "classify_input", "iter_frames", "Frame", "STATUSES", "IMAGE_EXTS", "VIDEO_EXTS"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".3gp", ".ogv")
STATUSES = ("ok", "no_face", "too_small", "unreadable", "bad_frame")
N_LANDMARKS = 68
BOX_COLUMNS = ["face_x", "face_y", "face_width", "face_height"]
LANDMARK_COLUMNS = [f"x_{i}" for i in range(N_LANDMARKS)] + [f"y_{i}" for i in range(N_LANDMARKS)]
_INT_COLUMNS = ("frame", "face_id", "success")
_STR_COLUMNS = ("input", "file", "status")


class InputError(Exception):
    """An input that cannot be read at all (reported and skipped by ``tfau predict``)."""


# ------------------------------------------------------------------------------------------------
# Columns and values


def columns(au_names: Sequence[str], task: str, folder: bool = False) -> List[str]:
    """The CSV / DataFrame columns for a model's AUs (``task``: intensity or occurrence)."""
    cols = ["frame"] + (["file"] if folder else []) + [
        "face_id", "timestamp", "confidence", "success", "status", "detector_score"]
    cols += BOX_COLUMNS + LANDMARK_COLUMNS
    if task == "intensity":
        cols += [f"{n}_r" for n in au_names] + [f"{n}_c" for n in au_names]
    else:
        cols += [f"{n}_c" for n in au_names] + [f"{n}_p" for n in au_names]
    return cols


def confidence_of(score: float) -> float:
    """dlib's detection score (an SVM margin, unbounded) -> 0-1: ``1 / (1 + exp(-4 (s - 0.5)))``.

    Monotone, 0.5 at score 0.5; our default threshold 0.3 maps to 0.31, the astronaut photo's
    mission patch (0.12) to 0.18, clear frontal faces (score > 1.2) above 0.94. It orders faces
    like the score does; it is not a calibrated probability (no labelled set to calibrate on).
    """
    return float(1.0 / (1.0 + math.exp(-4.0 * (float(score) - 0.5))))


def au_values(au: np.ndarray, au_names: Sequence[str], task: str,
              presence_threshold: float) -> Dict[str, float]:
    """The AU cells of one face row (numbers; ``_c`` as 0.0/1.0)."""
    out: Dict[str, float] = {}
    if task == "intensity":
        r = np.clip(np.asarray(au, np.float64), 0.0, 5.0)
        for n, v in zip(au_names, r):
            out[f"{n}_r"] = float(v)
        for n, v in zip(au_names, r):
            out[f"{n}_c"] = 1.0 if v >= presence_threshold else 0.0
    else:
        p = np.clip(np.asarray(au, np.float64), 0.0, 1.0)
        for n, v in zip(au_names, p):
            out[f"{n}_c"] = 1.0 if v >= 0.5 else 0.0
        for n, v in zip(au_names, p):
            out[f"{n}_p"] = float(v)
    return out


def format_value(column: str, value) -> str:
    """A cell as written to the CSV (empty for missing values)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column in _INT_COLUMNS or column.endswith("_c"):
        return str(int(value))
    if column in _STR_COLUMNS:
        return str(value)
    if column.endswith("_p") or column == "confidence":
        return f"{float(value):.4f}"
    if column.endswith("_r") or column in ("timestamp", "detector_score"):
        return f"{float(value):.3f}"
    return f"{float(value):.2f}"  # box and landmarks, pixels


def _normalise(df, cols: Optional[Sequence[str]] = None):
    """One dtype per column, the same for :meth:`Detector.detect` and :func:`read_results`."""
    import pandas as pd

    if cols is not None:
        df = df.reindex(columns=list(cols))
    out = {}
    for c in df.columns:
        if c in _INT_COLUMNS:
            out[c] = pd.to_numeric(df[c]).fillna(0).astype(np.int64).to_numpy()
        elif c in _STR_COLUMNS:
            out[c] = df[c].fillna("").astype(str).to_numpy()
        else:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64).to_numpy()
    return pd.DataFrame(out, columns=list(df.columns))


def read_results(path: str):
    """A CSV written by ``tfau predict`` (or ``Detector.to_csv``) -> the DataFrame
    :meth:`Detector.detect` returns for that input (same columns and dtypes).

    Raises:
      FileNotFoundError / ValueError naming ``path`` (missing file, or not a tfau CSV).
    """
    import pandas as pd

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        df = pd.read_csv(path, dtype={"status": str, "file": str}, keep_default_na=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV ({str(e).strip()[:200]})") from None
    missing = [c for c in ("frame", "face_id", "success") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a tfau results CSV (no column {missing})")
    return _normalise(df)


# ------------------------------------------------------------------------------------------------
# Tracking


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class IouTracker:
    """Greedy IoU tracking of face boxes across frames (the SORT idea without a motion model).

    Each frame's boxes are matched, best IoU first, to the tracks seen in the last ``max_age``
    processed frames; a pair needs IoU >= ``min_iou``. Unmatched boxes start a new track with the
    next unused id (0, 1, 2 ...), so ids are never reused within an input.
    """

    def __init__(self, min_iou: float = 0.3, max_age: int = 10):
        self.min_iou = float(min_iou)
        self.max_age = int(max_age)
        self._tracks: Dict[int, Tuple[Tuple[float, ...], int]] = {}  # id -> (box, last step)
        self._next = 0
        self._step = 0

    def update(self, boxes: Sequence[Sequence[float]]) -> List[int]:
        self._step += 1
        live = {k: v for k, v in self._tracks.items() if self._step - v[1] <= self.max_age}
        pairs = sorted(((iou(b, t[0]), i, k) for i, b in enumerate(boxes)
                        for k, t in live.items()), reverse=True)
        ids: List[Optional[int]] = [None] * len(boxes)
        used = set()
        for score, i, k in pairs:
            if score < self.min_iou:
                break
            if ids[i] is None and k not in used:
                ids[i] = k
                used.add(k)
        for i, b in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
            live[ids[i]] = (tuple(float(v) for v in b), self._step)
        self._tracks = live
        return [int(i) for i in ids]


# ------------------------------------------------------------------------------------------------
# Reading inputs


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def classify_input(source) -> str:
    """``array``, ``batch``, ``folder``, ``video``, ``image`` or ``missing``."""
    if isinstance(source, np.ndarray):
        return "batch" if source.ndim == 4 else "array"
    path = os.fspath(source)
    if os.path.isdir(path):
        return "folder"
    if not os.path.exists(path):
        return "missing"
    return "video" if os.path.splitext(path)[1].lower() in VIDEO_EXTS else "image"


@dataclasses.dataclass
class Frame:
    """One frame of an input: ``image`` is None when ``status`` says it could not be read."""

    number: int
    timestamp: float
    file: str
    image: Optional[np.ndarray]
    status: str = "ok"
    message: str = ""


def _gif_frames(path: str) -> int:
    """Number of images in a GIF file (counts image descriptors; 1 for other files)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 1
    if not data.startswith((b"GIF87a", b"GIF89a")):
        return 1
    try:
        import cv2

        if hasattr(cv2, "imcount"):
            return int(cv2.imcount(path))
    except Exception:  # noqa: BLE001 - fall back to counting descriptors
        pass
    return max(1, data.count(b"\x00\x2c"))


def _load(path: str) -> np.ndarray:
    try:
        return face_lib.load_image(path)
    except face_lib.ImageReadError as e:
        raise InputError(str(e)) from None


def iter_frames(source, kind: Optional[str] = None, every: int = 1,
                warn: Callable[[str], None] = None) -> Tuple[Optional[int], Iterator[Frame]]:
    """(frames that will be yielded, or None; an iterator of :class:`Frame`) for one input.

    Videos: an undecodable frame before the container's end is yielded with status
    ``bad_frame`` and reading goes on after it (the reader seeks past it). Folders: an
    unreadable file is yielded with status ``unreadable``. ``every``: keep frames 1, 1 + N, ...
    A multi-frame GIF given as an image uses its first frame and says so through ``warn``.
    Raises :class:`InputError` when the input cannot be read at all.
    """
    if isinstance(every, bool) or int(every) < 1:
        raise ValueError(f"every must be an integer >= 1; got {every!r}")
    every = int(every)
    warn = warn or (lambda m: warnings.warn(m, stacklevel=3))
    kind = kind or classify_input(source)
    if kind == "missing":
        raise InputError("no such file or folder")
    if kind == "array":
        return 1, iter([Frame(1, 0.0, "", face_lib._as_rgb_image(source, "image"))])
    if kind == "batch":
        arr = np.asarray(source)
        idx = range(0, len(arr), every)
        return len(idx), (Frame(i + 1, 0.0, "", face_lib._as_rgb_image(arr[i], f"images[{i}]"))
                          for i in idx)
    path = os.fspath(source)
    if kind == "video":
        return _iter_video(path, every)
    if kind == "folder":
        try:
            names = os.listdir(path)
        except OSError as e:
            raise InputError(f"cannot list the folder ({e.strerror or e})") from None
        files = sorted((f for f in names if f.lower().endswith(IMAGE_EXTS)
                        and os.path.isfile(os.path.join(path, f))), key=_natural_key)
        if not files:
            raise InputError("the folder holds no image files")
        picked = list(enumerate(files, 1))[::every]

        def gen():
            for i, name in picked:
                try:
                    yield Frame(i, 0.0, name, _load(os.path.join(path, name)))
                except InputError as e:
                    yield Frame(i, 0.0, name, None, "unreadable", str(e))

        return len(picked), gen()
    image = _load(path)
    n = _gif_frames(path)
    if n > 1:
        warn(f"{path}: a GIF with {n} frames; only its first frame is used (convert it to a "
             "video to analyse every frame)")
    return 1, iter([Frame(1, 0.0, "", image)])


def _iter_video(path: str, every: int) -> Tuple[Optional[int], Iterator[Frame]]:
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError("OpenCV cannot open it as a video")
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise InputError("no frame could be decoded")

    def gen():
        # ``frame`` is what reading frame ``index`` (0-based) gave: an array, None (undecodable)
        # or _SKIPPED (not wanted by ``every``: grabbed, not decoded).
        index, frame, bad_run = 0, first, 0
        try:
            while True:
                ts = index / fps if fps > 0 else 0.0
                if frame is None:
                    bad_run += 1
                    if index % every == 0:
                        yield Frame(index + 1, float(ts), "", None, "bad_frame",
                                    f"frame {index + 1} cannot be decoded")
                    cap.set(cv2.CAP_PROP_POS_FRAMES, index + 1)  # seek past it
                else:
                    bad_run = 0
                    if frame is not _SKIPPED:
                        yield Frame(index + 1, float(ts), "",
                                    cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                index += 1
                if index % every == 0:
                    ok, frame = cap.read()
                    frame = frame if ok and frame is not None else None
                else:
                    frame = _SKIPPED if cap.grab() else None
                # A failure at or past the container's last declared frame is its end (as the
                # dataset builders' reader: a damaged last frame has nothing after it); 100
                # failures in a row mean the rest is unreadable.
                if frame is None and (index >= declared - 1 or bad_run >= 100):
                    break
        finally:
            cap.release()

    return (None if declared <= 0 else (declared + every - 1) // every), gen()


_SKIPPED = object()


# ------------------------------------------------------------------------------------------------
# Models: a SavedModel folder, a .keras file or a run folder


class KerasPredictor:
    """A Keras serving model (from a ``.keras`` file or a run folder) with the interface of
    ``tfau.export.Predictor``: ``predict(uint8 faces [B, H, H, 3]) -> {"au", "maps"?}``.

    Faces of another size are resized to the model's ``image_size`` as the SavedModel's
    ``serving_default`` does (bilinear with antialiasing).
    """

    def __init__(self, model, metadata: Dict[str, Any], path: str):
        self.model = model
        self.metadata = metadata
        self.path = path
        self.au_names = list(metadata["au_names"])
        self.task = metadata["task"]
        self.image_size = int(metadata["image_size"])
        self.has_maps = True

    def predict(self, images) -> Dict[str, np.ndarray]:
        import tensorflow as tf

        from tfau.export import aligned_batch

        images, single = aligned_batch(images)
        if len(images) == 0:
            return {"au": np.zeros([0, len(self.au_names)], np.float32)}
        x = tf.constant(images, tf.float32)
        if images.shape[1] != self.image_size:
            x = tf.image.resize(x, [self.image_size] * 2, method="bilinear", antialias=True)
        out = self.model(x, training=False)
        out = {k: np.asarray(out[k], np.float32) for k in ("au", "maps") if k in out}
        return {k: v[0] for k, v in out.items()} if single else out


def _metadata_from_run(run: Dict[str, Any], source: str) -> Dict[str, Any]:
    from tfau import aus as aus_lib

    try:
        protocol = aus_lib.get_protocol(run["protocol"], run.get("threshold"))
        meta = {"method": run["method"], "protocol": protocol.name, "task": protocol.task,
                "aus": [int(a) for a in protocol.aus], "au_names": list(protocol.au_names),
                "image_size": int(run["image_size"]), "threshold": protocol.threshold}
    except (KeyError, TypeError, ValueError) as e:
        raise _model_error(f"{source}: run.json lacks what the model needs ({e})")
    dataset, config = run.get("dataset"), run.get("config")
    meta["trained_on"] = f"{dataset}/{config}" if dataset and config else dataset
    meta["trained_on_synthetic"] = bool(dataset and str(dataset).startswith("synthetic"))
    meta["dataset"] = dataset
    return meta


def _model_error(message: str):
    from tfau import export as export_lib

    return export_lib.ModelError(message)


def _run_of(folder: str) -> Dict[str, Any]:
    from tfau import runs as runs_lib

    try:
        return runs_lib.read_run(folder)
    except ValueError as e:
        raise _model_error(str(e)) from None


def load_model(model) -> Any:
    """A predictor for ``model``: a SavedModel folder, a ``.keras`` file (with the run's
    ``run.json`` beside it), a training run folder, or an already loaded predictor.

    Raises ``FileNotFoundError`` / ``tfau.export.ModelError`` naming the path.
    """
    if hasattr(model, "predict") and hasattr(model, "au_names") and hasattr(model, "metadata"):
        return model
    from tfau import export as export_lib
    from tfau import runs as runs_lib

    path = os.fspath(model)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return export_lib.Predictor(path)
        if os.path.isfile(os.path.join(path, runs_lib.RUN_FILE)):
            return _load_run_folder(path)
        raise FileNotFoundError(f"{path} is neither a SavedModel folder (saved_model.pb) nor a "
                                f"tfau run folder ({runs_lib.RUN_FILE})")
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such .keras file")
        return _load_keras_file(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model (a SavedModel folder, a .keras file or "
                                "a run folder)")
    raise _model_error(f"{path} is not a tfau model (a SavedModel folder, a .keras file or a run "
                       "folder)")


def _load_run_folder(path: str) -> KerasPredictor:
    from tfau import export as export_lib
    from tfau import runs as runs_lib

    run = _run_of(path)
    meta = _metadata_from_run(run, os.path.join(path, runs_lib.RUN_FILE))
    model = export_lib.model_from_run(run, runs_lib.find_weights(path))
    serving = model.serving_model() if hasattr(model, "serving_model") else model
    return KerasPredictor(serving, meta, path)


def _load_keras_file(path: str) -> KerasPredictor:
    import keras

    import tfau.models  # noqa: F401  (registers the layers and models for deserialisation)

    folder = os.path.dirname(os.path.abspath(path))
    meta = None
    for cand in (folder, os.path.dirname(folder)):
        if os.path.isfile(os.path.join(cand, "run.json")):
            meta = _metadata_from_run(_run_of(cand), os.path.join(cand, "run.json"))
            break
    if meta is None:
        raise _model_error(f"{path}: no run.json beside it; a .keras model is read with the run "
                           "folder it was trained in (or export a SavedModel with `tfau export`)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - zip, h5 and deserialisation errors
        raise _model_error(f"{path}: cannot load the .keras file ({type(e).__name__}: "
                           f"{str(e).strip()[:300]})") from None
    return KerasPredictor(model, meta, path)


def is_synthetic(metadata: Dict[str, Any]) -> bool:
    """True for a model fitted on rendered faces (``synthetic_au``)."""
    if "trained_on_synthetic" in metadata:
        return bool(metadata["trained_on_synthetic"])
    return str(metadata.get("dataset", "")).startswith("synthetic")


SYNTHETIC_NOTE = ("this model was trained on synthetic_au's rendered faces: its AU values on real "
                  "faces demonstrate the pipeline; it is not a validated AU detector")


# ------------------------------------------------------------------------------------------------
# The detector


@dataclasses.dataclass
class FaceOutput:
    """One row's extras for drawing: the aligned face, the model's maps, the transform."""

    row: Dict[str, Any]
    aligned: Optional[np.ndarray] = None
    transform: Optional[np.ndarray] = None
    maps: Optional[np.ndarray] = None


class Detector:
    """Face detection + alignment (dlib, ``tfau.face``) + a tfau model -> AU table.

    Args:
      model: a SavedModel folder (``tfau export``), a ``.keras`` file in a run folder, a run
        folder (``runs/<method>/<name>``), or a loaded ``tfau.export.Predictor``.
      threshold: dlib's detection threshold (score; see ``confidence_of`` for the 0-1 scale).
        0.3 drops the astronaut photo's mission patch; lower it for small or turned faces.
      presence_threshold: intensity models: ``AUxx_c = AUxx_r >= this`` (1 = FACS level A).
      batch_size: faces per model call.
      upsample: dlib's upsampling (1 finds faces down to ~40 px).
      min_iou: IoU a face box needs with a track's last box to continue it (video, folders).
    """

    def __init__(self, model, *, threshold: float = face_lib.DEFAULT_THRESHOLD,
                 presence_threshold: float = 1.0, batch_size: int = 32, upsample: int = 1,
                 min_iou: float = 0.3, aligner=None):
        for name, value in (("threshold", threshold), ("presence_threshold", presence_threshold),
                            ("min_iou", min_iou)):
            if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
        self.predictor = load_model(model)
        self.metadata = dict(self.predictor.metadata)
        self.au_names = list(self.predictor.au_names)
        self.task = self.predictor.task
        self.presence_threshold = float(presence_threshold)
        self.batch_size = int(batch_size)
        self.min_iou = float(min_iou)
        self.aligner = aligner or face_lib.FaceAligner(threshold=float(threshold),
                                                       upsample=upsample)
        self.synthetic = is_synthetic(self.metadata)

    # -- public ------------------------------------------------------------------------------

    def columns(self, folder: bool = False) -> List[str]:
        return columns(self.au_names, self.task, folder)

    def detect(self, inputs, *, every: int = 1, progress: bool = False):
        """AUs of every face in ``inputs`` as a pandas DataFrame (the CSV's columns).

        ``inputs``: an image, folder or video path; an RGB uint8 array ``[H, W, 3]``; a batch
        ``[N, H, W, 3]`` (frames ``1..N``, face ids by size rank); or a list of these (the
        frames are concatenated and an ``input`` column says which item each row came from:
        the path, or ``array[i]``). ``every``: frames 1, 1 + N, ... of videos, folders, batches.
        An input that cannot be read raises :class:`InputError` naming it.
        """
        import pandas as pd

        many = isinstance(inputs, (list, tuple))
        items = list(inputs) if many else [inputs]
        frames = []
        for i, item in enumerate(items):
            kind = classify_input(item)
            name = f"array[{i}]" if isinstance(item, np.ndarray) else os.fspath(item)
            try:
                rows = [out.row for out in self.iter_rows(item, kind=kind, every=every,
                                                          progress=progress)]
            except InputError as e:
                raise InputError(f"{name}: {e}") from None
            cols = self.columns(kind == "folder")
            if many:
                rows = [{"input": name, **r} for r in rows]
                cols = ["input"] + cols
            frames.append(_normalise(pd.DataFrame(rows), cols))
        if not many:
            return frames[0]
        cols = ["input"] + self.columns(any("file" in f.columns for f in frames))
        return _normalise(pd.concat(frames, ignore_index=True), cols)

    def iter_rows(self, source, *, kind: Optional[str] = None, every: int = 1,
                  progress: bool = False, keep_faces: bool = False,
                  warn: Callable[[str], None] = None) -> Iterator[FaceOutput]:
        """Streams :class:`FaceOutput` rows of one input, in frame order (the CLI writes them as
        they come; ``keep_faces`` keeps the aligned faces and maps for overlays)."""
        kind = kind or classify_input(source)
        total, frames = iter_frames(source, kind, every=every, warn=warn)
        tracker = IouTracker(self.min_iou) if kind in ("video", "folder") else None
        bar = None
        if progress:
            from tqdm import tqdm

            label = "images" if kind in ("array", "batch") else os.path.basename(
                os.path.normpath(os.fspath(source)))
            bar = tqdm(total=total, desc=label, unit="frame", file=sys.stderr, leave=False)
        pending: List[FaceOutput] = []
        try:
            for fr in frames:
                pending.extend(self._frame_rows(fr, kind == "folder", tracker))
                if sum(1 for p in pending if p.aligned is not None) >= self.batch_size:
                    yield from self._flush(pending, keep_faces)
                if bar is not None:
                    bar.update(1)
            yield from self._flush(pending, keep_faces)
        finally:
            if bar is not None:
                bar.close()

    def predict_aligned(self, faces) -> Dict[str, np.ndarray]:
        """The model on aligned uint8 faces ``[B, H, H, 3]`` (batched by ``batch_size``)."""
        faces = np.asarray(faces)
        outs: Dict[str, List[np.ndarray]] = {}
        for start in range(0, len(faces), self.batch_size):
            part = self.predictor.predict(faces[start:start + self.batch_size])
            for k, v in part.items():
                outs.setdefault(k, []).append(np.asarray(v))
        return {k: np.concatenate(v) for k, v in outs.items()}

    # -- internals ---------------------------------------------------------------------------

    def _frame_rows(self, fr: Frame, folder: bool, tracker: Optional[IouTracker]
                    ) -> List[FaceOutput]:
        base: Dict[str, Any] = {"frame": fr.number, "timestamp": fr.timestamp}
        if folder:
            base["file"] = fr.file
        if fr.image is None:
            return [FaceOutput({**base, "face_id": 0, "success": 0, "status": fr.status})]
        result = self.aligner.align(fr.image)
        if not result.success:
            status = result.flag if result.flag in STATUSES else "no_face"
            if tracker is not None:
                tracker.update([])
            return [FaceOutput({**base, "face_id": 0, "success": 0, "status": status})]
        faces = list(result.faces)
        ids = tracker.update([f.box for f in faces]) if tracker is not None else \
            list(range(len(faces)))
        out = []
        for face_id, f in sorted(zip(ids, faces), key=lambda t: t[0]):
            x0, y0, x1, y1 = f.box
            row = {**base, "face_id": face_id, "confidence": confidence_of(f.confidence),
                   "detector_score": float(f.confidence), "success": 1, "status": "ok",
                   "face_x": x0, "face_y": y0, "face_width": x1 - x0, "face_height": y1 - y0}
            lm = f.source_landmarks if f.source_landmarks is not None else _unwarp(
                f.landmarks, f.transform)
            for i in range(N_LANDMARKS):
                row[f"x_{i}"] = float(lm[i, 0])
                row[f"y_{i}"] = float(lm[i, 1])
            out.append(FaceOutput(row, np.asarray(f.image), np.asarray(f.transform)))
        return out

    def _flush(self, pending: List[FaceOutput], keep_faces: bool) -> Iterator[FaceOutput]:
        faces = [p for p in pending if p.aligned is not None]
        if faces:
            out = self.predict_aligned(np.stack([p.aligned for p in faces]).astype(np.uint8))
            for i, p in enumerate(faces):
                p.row.update(au_values(out["au"][i], self.au_names, self.task,
                                       self.presence_threshold))
                if keep_faces and "maps" in out:
                    p.maps = out["maps"][i]
        items = list(pending)
        pending.clear()
        for p in items:
            if not keep_faces:
                p.aligned = None
            yield p


def _unwarp(points, transform) -> np.ndarray:
    m = np.asarray(transform, np.float64)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return face_lib.warp_landmarks(points, inv)
