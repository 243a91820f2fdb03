"""Face preprocessing: robust image loading, dlib detection + 68 landmarks, similarity alignment.

``import tfau.face`` is cheap: OpenCV (``cv2``) and ``dlib`` are imported on first use, and dlib's
68-point model (99 MB, from the ``face-recognition-models`` package) is read once per process.

Alignment: a least-squares similarity transform (rotation, uniform scale, translation; no
reflection, no shear) maps four anchors of the face - the two eye centres (means of landmarks
36-41 and 42-47) and the mouth corners 48 and 54 - onto the same anchors of
``tfau.geometry.TEMPLATE_68``, giving a ``size x size`` face (256 by default; other sizes scale
the template). Coordinates follow the package convention: ``(x, y)`` pixels with pixel centres at
integers, so scaling the 256 frame by ``r`` maps ``x -> (x + 0.5) r - 0.5``.

The 68-point model is trained on iBUG 300-W, whose licence excludes commercial use.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import threading
from typing import List, Optional, Tuple

import numpy as np

from tfau import geometry

__all__ = [
    "ImageReadError", "FLAGS", "AlignedFace", "FaceResult", "FaceAligner",
    "load_image", "decode_image", "align_to_landmarks", "warp_landmarks",
    "similarity_transform", "template_anchors", "model_path",
]

MIN_IMAGE_SIDE = 32
"""Images with a side shorter than this are not searched for faces (flag ``too_small``)."""

DEFAULT_MAX_SIDE = 1280
"""Detection runs on a copy downscaled so that its longer side is at most this many pixels;
landmarks and the warp use the full-resolution image."""

DEFAULT_THRESHOLD = 0.3
"""Default minimum dlib detection score (see :class:`FaceAligner`)."""

FLAGS = ("ok", "multiple_faces", "no_face", "too_small", "unreadable")
"""``FaceResult.flag`` values. ``ok`` and ``multiple_faces`` come with ``success=True``."""

_SHAPE_MODEL = "shape_predictor_68_face_landmarks.dat"


class ImageReadError(ValueError):
    """A file or buffer could not be read as an image; the message names it and says why."""


# ----------------------------------------------------------------------------------------------
# Lazy heavy imports and models
# ----------------------------------------------------------------------------------------------

def _cv2():
    import cv2  # noqa: PLC0415  (deferred on purpose)

    return cv2


def _dlib():
    try:
        import dlib  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("tfau.face needs dlib: `pip install dlib-bin` (prebuilt wheels)") from e
    return dlib


_MODEL_LOCK = threading.Lock()
_MODELS = {}


def model_path(name: str = _SHAPE_MODEL) -> str:
    """Path of a dlib model file shipped by the ``face-recognition-models`` package.

    Located with ``importlib.util.find_spec`` (the package's own helpers need ``pkg_resources``,
    which recent setuptools removed).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("dlib's models come from the `face-recognition-models` package, "
                                "which is not installed: `pip install face-recognition-models`")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dlib model file {path} is missing; reinstall "
                                "`face-recognition-models`")
    return path


def _detector():
    with _MODEL_LOCK:
        if "detector" not in _MODELS:
            _MODELS["detector"] = _dlib().get_frontal_face_detector()
        return _MODELS["detector"]


def _predictor():
    with _MODEL_LOCK:
        if "predictor" not in _MODELS:
            _MODELS["predictor"] = _dlib().shape_predictor(model_path(_SHAPE_MODEL))
        return _MODELS["predictor"]


# ----------------------------------------------------------------------------------------------
# Image loading
# ----------------------------------------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
)


def _describe_undecodable(data: bytes) -> str:
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return f"corrupt, truncated or unsupported {fmt} data"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "corrupt, truncated or unsupported WebP data"
    head = data[:2048]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t\f" for c in text):
        return "not an image (looks like a text file)"
    return "not an image (format not recognised)"


def _to_rgb_uint8(img: np.ndarray, source: str) -> np.ndarray:
    """Decoded OpenCV array (BGR order, any depth, 1/3/4 channels) -> uint8 RGB [H, W, 3]."""
    cv2 = _cv2()
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        finite = img[np.isfinite(img)]
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img) * scale + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageReadError(f"{source}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    channels = img.shape[2]
    if channels == 1 or channels == 2:  # grey, grey + alpha
        return np.ascontiguousarray(np.repeat(img[:, :, :1], 3, axis=2))
    if channels == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    raise ImageReadError(f"{source}: unsupported number of channels ({channels})")


def decode_image(data, source: str = "<bytes>") -> np.ndarray:
    """Decodes an encoded image (bytes) to uint8 RGB ``[H, W, 3]``; see :func:`load_image`."""
    cv2 = _cv2()
    data = bytes(data)
    if not data:
        raise ImageReadError(f"{source}: empty file (0 bytes)")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        # ANYDEPTH keeps 16-bit data, ANYCOLOR keeps grey as grey; any flag other than
        # IMREAD_UNCHANGED also applies the EXIF orientation. Alpha is dropped.
        img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as e:  # e.g. more pixels than OPENCV_IO_MAX_IMAGE_PIXELS
        raise ImageReadError(f"{source}: OpenCV cannot decode it ({str(e).strip()})") from None
    if img is None or img.size == 0:
        raise ImageReadError(f"{source}: {_describe_undecodable(data)}")
    return _to_rgb_uint8(img, source)


def load_image(path) -> np.ndarray:
    """Reads an image file as uint8 RGB ``[H, W, 3]``.

    Greyscale is replicated to 3 channels, an alpha channel is dropped, 16-bit data is scaled to
    8 bits (``round(v * 255 / 65535)``), palette images are expanded, and JPEG EXIF orientation is
    applied (OpenCV does both). Any size is returned as is; :class:`FaceAligner` handles tiny and
    huge images.

    Raises:
      ImageReadError: (a ``ValueError``) for a missing, unreadable, empty, corrupt or non-image
        file; the message names the file and the reason.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageReadError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{source}: is a directory, not an image file") from None
    except OSError as e:
        raise ImageReadError(f"{source}: cannot read file ({e.strerror or e})") from None
    return decode_image(data, source)


def _as_rgb_image(image, name: str = "image") -> np.ndarray:
    """Validates an in-memory image: uint8 (or 0..255 float) [H, W], [H, W, 1|3|4] -> RGB uint8."""
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{name} must be an [H, W] or [H, W, 3] (RGB) array; got shape {arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer)
                                     or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold uint8 (or 0..255 float) pixels; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8 and arr.size \
            and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"{name} values must lie in 0..255; got {arr.min()}..{arr.max()} "
                         "(scale 16-bit images to 8 bits first; load_image does)")
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float64)) + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------------------------
# Geometry: similarity fit, template, warping
# ----------------------------------------------------------------------------------------------

def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity ``[2, 3]`` (rotation, uniform scale, translation) mapping
    ``src`` points ``[N, 2]`` onto ``dst`` (N >= 2): minimises ``sum |M [x, 1] - d|^2``."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need matching [N>=2, 2] point sets; got {src.shape} and {dst.shape}")
    x, y = src[:, 0], src[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    # Unknowns (a, b, tx, ty): x' = a x - b y + tx, y' = b x + a y + ty.
    rows = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    rhs = np.concatenate([dst[:, 0], dst[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, rhs, rcond=None)
    if a * a + b * b < 1e-18:
        raise ValueError("degenerate landmarks: the alignment anchors coincide")
    return np.array([[a, -b, tx], [b, a, ty]], np.float64)


def warp_landmarks(landmarks, transform) -> np.ndarray:
    """Applies a ``[2, 3]`` affine ``transform`` to points ``[..., N, 2]`` (float32 result)."""
    pts = np.asarray(landmarks, np.float64)
    m = np.asarray(transform, np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"transform must be [2, 3]; got {m.shape}")
    if pts.ndim < 1 or pts.shape[-1] != 2:
        raise ValueError(f"landmarks must be [..., N, 2]; got {pts.shape}")
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def template_anchors(size: int = geometry.TEMPLATE_SIZE) -> np.ndarray:
    """``geometry.TEMPLATE_ANCHORS`` (256 frame) scaled to a ``size x size`` output, ``[4, 2]``."""
    r = float(size) / geometry.TEMPLATE_SIZE
    return ((np.asarray(geometry.TEMPLATE_ANCHORS, np.float64) + 0.5) * r - 0.5).astype(np.float32)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16; got {size!r}")
    return int(size)


def _warp(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """cv2.warpAffine with anti-aliasing: large faces are first shrunk with INTER_AREA."""
    cv2 = _cv2()
    m = np.asarray(transform, np.float64)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.5:
        h, w = image.shape[:2]
        new_w, new_h = max(1, round(w * scale * 2)), max(1, round(h * scale * 2))
        rx, ry = new_w / w, new_h / h
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        # Resized pixel x_r = (x + 0.5) rx - 0.5, so x = (x_r + 0.5) / rx - 0.5.
        a = m[:, :2] @ np.diag([1.0 / rx, 1.0 / ry])
        t = m[:, 2] + m[:, :2] @ np.array([0.5 / rx - 0.5, 0.5 / ry - 0.5])
        m = np.concatenate([a, t[:, None]], axis=1)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class AlignedFace:
    """One aligned face.

    Attributes:
      image: uint8 ``[S, S, 3]`` RGB aligned face.
      landmarks: float32 ``[68, 2]`` in the aligned frame.
      transform: float32 ``[2, 3]`` affine mapping source pixels to aligned pixels.
      box: ``(x0, y0, x1, y1)`` face box in source pixels, end-exclusive (width = x1 - x0); the
        detector's box, or the landmarks' bounding box for :func:`align_to_landmarks`.
      confidence: dlib's detection score (SVM margin; larger is surer, ~0 at the threshold),
        ``1.0`` when the landmarks were given.
      source_landmarks: float32 ``[68, 2]``, the same landmarks in source pixels.
    """

    image: np.ndarray
    landmarks: np.ndarray
    transform: np.ndarray
    box: Tuple[float, float, float, float]
    confidence: float
    source_landmarks: Optional[np.ndarray] = None


@dataclasses.dataclass
class FaceResult:
    """Outcome of aligning one image: ``success`` is True for flags ``ok`` / ``multiple_faces``.

    ``faces`` is sorted largest box first; ``message`` explains failures (naming the file).
    """

    success: bool
    flag: str
    faces: List[AlignedFace]
    message: str = ""


def align_to_landmarks(image, landmarks68, size: int = geometry.TEMPLATE_SIZE, *,
                       box=None, confidence: float = 1.0) -> AlignedFace:
    """Aligns a face with known 68-point landmarks (source pixels); no detector, no dlib.

    Used by dataset builders that ship landmarks (DISFA's 66 and BP4D's 49 points are converted
    to 68 with ``tfau.geometry.to_68`` first).
    """
    size = _check_size(size)
    img = _as_rgb_image(image)
    lm = np.asarray(landmarks68, np.float64)
    if lm.shape != (geometry.N_LANDMARKS, 2):
        raise ValueError(f"landmarks68 must be [68, 2]; got shape {lm.shape}")
    anchors = geometry.alignment_anchors(lm.astype(np.float32))
    if not np.isfinite(anchors).all():
        raise ValueError("landmarks68 has non-finite values at the alignment anchors "
                         "(eyes 36-47, mouth corners 48, 54)")
    m = similarity_transform(anchors, template_anchors(size))
    if box is None:
        finite = lm[np.isfinite(lm).all(axis=1)]
        x0, y0 = finite.min(axis=0)
        x1, y1 = finite.max(axis=0) + 1.0
        box = (float(x0), float(y0), float(x1), float(y1))
    return AlignedFace(image=_warp(img, m, size), landmarks=warp_landmarks(lm, m),
                       transform=m.astype(np.float32), box=tuple(float(v) for v in box),
                       confidence=float(confidence), source_landmarks=lm.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Detection + alignment
# ----------------------------------------------------------------------------------------------

class FaceAligner:
    """dlib HOG frontal-face detector + 68-point shape predictor + similarity alignment.

    Args:
      size: output side in pixels (the template is scaled from 256).
      upsample: times dlib upsamples the detection image (1 finds faces down to ~40 px).
      max_side: detection runs on a copy whose longer side is at most this (huge photos);
        landmarks and the warp use the full-resolution image. ``None`` disables it.
      min_image_side: images with a shorter side than this give flag ``too_small``.
      threshold: dlib's ``adjust_threshold``: detections scoring below it are dropped. dlib's own
        default is 0; we use 0.3, which drops borderline hits such as the round mission patch in
        scikit-image's astronaut photo (0.12) while clear frontal faces score above 1. Lower it
        (even below 0) for small or turned faces.

    The dlib models are loaded on first use and shared by all instances.
    """

    def __init__(self, size: int = geometry.TEMPLATE_SIZE, upsample: int = 1,
                 max_side: Optional[int] = DEFAULT_MAX_SIDE, min_image_side: int = MIN_IMAGE_SIDE,
                 threshold: float = DEFAULT_THRESHOLD):
        self.size = _check_size(size)
        if int(upsample) < 0:
            raise ValueError(f"upsample must be >= 0; got {upsample!r}")
        if max_side is not None and int(max_side) < 64:
            raise ValueError(f"max_side must be >= 64 or None; got {max_side!r}")
        self.upsample = int(upsample)
        self.max_side = None if max_side is None else int(max_side)
        self.min_image_side = int(min_image_side)
        self.threshold = float(threshold)

    # -- building blocks ------------------------------------------------------------------------

    def detect(self, image) -> List[Tuple[Tuple[float, float, float, float], float]]:
        """Face boxes ``(x0, y0, x1, y1)`` (source pixels, end-exclusive) with dlib scores,
        largest first."""
        img = _as_rgb_image(image)
        h, w = img.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            cv2 = _cv2()
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
        rects, scores, _ = _detector().run(img, self.upsample, self.threshold)
        out = []
        for rect, score in zip(rects, scores):
            box = (rect.left() / scale, rect.top() / scale,
                   (rect.right() + 1) / scale, (rect.bottom() + 1) / scale)
            out.append((tuple(float(v) for v in box), float(score)))
        out.sort(key=lambda d: -(d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
        return out

    def landmarks(self, image, box) -> np.ndarray:
        """dlib's 68 landmarks ``[68, 2]`` (float32, source pixels) inside ``box``."""
        img = _as_rgb_image(image)
        if len(box) != 4:
            raise ValueError(f"box must be (x0, y0, x1, y1); got {box!r}")
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"box must have x1 > x0 and y1 > y0; got {box!r}")
        rect = _dlib().rectangle(x0, y0, x1 - 1, y1 - 1)
        shape = _predictor()(img, rect)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
                        dtype=np.float32)

    # -- whole pipeline -------------------------------------------------------------------------

    def align(self, image, source: str = "image") -> FaceResult:
        """Detects every face, predicts its landmarks and aligns it (largest face first)."""
        img = _as_rgb_image(image)
        h, w = img.shape[:2]
        if min(h, w) < self.min_image_side:
            return FaceResult(False, "too_small", [],
                              f"{source}: {w}x{h} pixels is below the {self.min_image_side}-pixel "
                              "minimum side for face detection")
        detections = self.detect(img)
        if not detections:
            return FaceResult(False, "no_face", [], f"{source}: no face found")
        faces = []
        for box, score in detections:
            lm = self.landmarks(img, box)
            faces.append(align_to_landmarks(img, lm, self.size, box=box, confidence=score))
        if len(faces) > 1:
            return FaceResult(True, "multiple_faces", faces,
                              f"{source}: {len(faces)} faces found; largest first")
        return FaceResult(True, "ok", faces, "")

    def align_file(self, path) -> FaceResult:
        """:meth:`align` on a file; unreadable files give ``success=False``, flag
        ``unreadable`` and a message naming the file (never raises for bad files)."""
        try:
            image = load_image(path)
        except ImageReadError as e:
            return FaceResult(False, "unreadable", [], str(e))
        return self.align(image, source=os.fspath(path))
