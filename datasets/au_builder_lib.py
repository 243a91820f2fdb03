"""What the DISFA, BP4D and BP4D+ builders share.

* finding files in the licensed trees users bring (case-insensitive, spelling variants, one or
  two extra folder levels above the dataset root);
* strict parsers for the label formats (``frame,value`` text files, the BP4D occurrence CSV read
  by header name); a malformed file raises :class:`LabelFileError` naming the file and the line;
* landmark readers (DISFA's per-frame ``.mat`` files, BP4D's MATLAB v7.3 ``fit/pred`` cells);
* :class:`FaceMaker`: source landmarks -> 68 points -> aligned 256x256 face, with dlib re-detection
  for frames without landmarks, and a :class:`Tally` of what happened to every frame;
* the BP4D / BP4D+ layouts (Binghamton zips + ``2DFeatures``; the FERA 2015 folder package).

All file access goes through ``etils.epath`` (TFDS tests mock ``open`` / ``os``), so a manual
directory on GCS works too; the only exception is OpenCV's video reader, which needs a local file
(remote videos are copied to a temporary file first).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import io
import re
import tempfile
import zipfile
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from etils import epath

import tensorflow_datasets as tfds

from tfau import aus as aus_lib

LEFT = "left"
RIGHT = "right"


# --------------------------------------------------------------------------------------------
# Errors and book-keeping
# --------------------------------------------------------------------------------------------


class LabelFileError(ValueError):
    """A label file that cannot be read as its format says; names the file and the line."""

    def __init__(self, path, line: int, message: str):
        self.path = str(path)
        self.line = int(line)
        super().__init__(f"{self.path}, line {self.line}: {message}")


class Tally:
    """Counts what happened to frames (kept, re-detected, skipped, ...) and logs a summary."""

    def __init__(self, name: str):
        self.name = name
        self.counts: collections.Counter = collections.Counter()

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] += int(n)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def summary(self) -> str:
        body = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing"
        return f"{self.name}: {body}"

    def log(self) -> None:
        logging.info("%s", self.summary())


# --------------------------------------------------------------------------------------------
# Finding files
# --------------------------------------------------------------------------------------------


def normalize(name: str) -> str:
    """Lower case, letters and digits only: 'AU Intensity Codes3.0' == 'au-intensity-codes3.0'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def list_dir(path: epath.Path) -> List[epath.Path]:
    path = epath.Path(path)
    if not path.is_dir():
        return []
    return sorted(path.iterdir(), key=lambda p: p.name)


def files_under(folder: epath.Path, depth: int = 2) -> List[epath.Path]:
    """Files in ``folder`` and its subfolders down to ``depth`` levels, sorted by path (no
    recursive glob: epath refuses ``**`` on remote file systems)."""
    out, level = [], [epath.Path(folder)]
    for _ in range(depth):
        nxt = []
        for d in level:
            for c in list_dir(d):
                (nxt if c.is_dir() else out).append(c)
        level = nxt
    return sorted(out, key=str)


def find_child(parent: epath.Path, *names: str, is_dir: Optional[bool] = None,
               prefix: bool = False) -> Optional[epath.Path]:
    """The child of ``parent`` whose normalized name equals (or, with prefix, starts with) one of
    ``names``; first candidate name wins. ``None`` when there is none."""
    children = list_dir(parent)
    for name in names:
        want = normalize(name)
        for child in children:
            got = normalize(child.name)
            if (got.startswith(want) if prefix else got == want):
                if is_dir is None or child.is_dir() == is_dir:
                    return child
    return None


def find_root(manual_dir: epath.Path, marker_sets: Sequence[Sequence[str]],
              max_depth: int = 2) -> Tuple[epath.Path, int]:
    """The folder at most ``max_depth`` levels under ``manual_dir`` holding a folder named in one
    of ``marker_sets`` (checked in order). Returns (root, index of the marker set found)."""
    level = [epath.Path(manual_dir)]
    for _ in range(max_depth + 1):
        for k, markers in enumerate(marker_sets):
            for folder in level:
                if find_child(folder, *markers, is_dir=True) is not None:
                    return folder, k
        level = [c for folder in level for c in list_dir(folder) if c.is_dir()]
    wanted = " or ".join("/".join(m) for m in marker_sets)
    raise FileNotFoundError(f"no dataset found under {manual_dir}: expected a folder named "
                            f"{wanted} (at most {max_depth} levels down)")


def local_copy(path: epath.Path) -> Tuple[str, Optional[Callable[[], None]]]:
    """A local filename for ``path`` (copied to a temporary file when remote) + a cleanup."""
    path = epath.Path(path)
    spath = str(path)
    if "://" not in spath:
        return spath, None
    tmp = tempfile.NamedTemporaryFile(suffix=path.suffix, delete=False)
    with tmp:
        tmp.write(path.read_bytes())
    return tmp.name, lambda: epath.Path(tmp.name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Label parsers
# --------------------------------------------------------------------------------------------

_SEP = re.compile(r"\s*,\s*|\s+")


def _as_int(text: str) -> Optional[int]:
    text = text.strip().strip('"').strip("'")
    try:
        value = float(text)
    except ValueError:
        return None
    if not np.isfinite(value) or not float(value).is_integer():
        return None
    return int(value)


def _lines(path: epath.Path) -> List[str]:
    try:
        data = epath.Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} does not exist") from None
    return data.decode("utf-8-sig", errors="replace").splitlines()


def parse_frame_values(path: epath.Path, allowed: Iterable[int]) -> Dict[int, int]:
    """Reads a headerless ``frame,value`` file (DISFA ``SN001_au1.txt``, BP4D intensity CSVs).

    Returns {frame: value}. Blank lines are skipped; anything else that is not two integers, a
    value outside ``allowed``, a negative or repeated frame raises LabelFileError.
    """
    allowed = frozenset(int(a) for a in allowed)
    out: Dict[int, int] = {}
    for lineno, raw in enumerate(_lines(path), 1):
        line = raw.strip()
        if not line:
            continue
        fields = [f for f in _SEP.split(line.strip(",")) if f != ""]
        if len(fields) != 2:
            raise LabelFileError(path, lineno, f"expected 'frame,value', got {raw!r}")
        frame, value = _as_int(fields[0]), _as_int(fields[1])
        if frame is None or value is None:
            raise LabelFileError(path, lineno, f"expected two integers, got {raw!r}")
        if frame < 0:
            raise LabelFileError(path, lineno, f"negative frame number {frame}")
        if value not in allowed:
            raise LabelFileError(path, lineno,
                                 f"value {value} is not one of {sorted(allowed)} (line {raw!r})")
        if frame in out:
            raise LabelFileError(path, lineno, f"frame {frame} appears twice")
        out[frame] = value
    if not out:
        raise LabelFileError(path, 1, "no labels in file")
    return out


def _au_of_header(name: str) -> Optional[int]:
    m = re.fullmatch(r"(?:au)?\s*0*(\d+)(?:\.0)?", name.strip().strip('"').lower())
    return int(m.group(1)) if m else None


def parse_occurrence_csv(path: epath.Path, aus: Sequence[int],
                         allowed: Iterable[int] = (0, 1, 9),
                         missing_code: Optional[int] = None) -> Dict[int, np.ndarray]:
    """Reads a BP4D / BP4D+ occurrence CSV by header name.

    The header names the columns: ``0`` (or ``frame``) is the frame number, every other column
    is an AU number. Returns {frame: int array over ``aus``}. Short rows, non-integers and values
    outside ``allowed`` raise LabelFileError with the file and line; so do AU columns missing from
    the header, unless ``missing_code`` is given (then those AUs get that code, e.g. 9 = unknown,
    and a warning names the file).
    """
    allowed = frozenset(int(a) for a in allowed)
    lines = _lines(path)
    header_line = next((i for i, l in enumerate(lines) if l.strip()), None)
    if header_line is None:
        raise LabelFileError(path, 1, "empty file (expected a header row)")
    header = [h.strip().strip('"') for h in lines[header_line].split(",")]
    frame_col = None
    au_cols: Dict[int, int] = {}
    for col, name in enumerate(header):
        if frame_col is None and normalize(name) in ("0", "frame", "frames"):
            frame_col = col
            continue
        au = _au_of_header(name)
        if au is not None and au not in au_cols:
            au_cols[au] = col
    if frame_col is None:
        raise LabelFileError(path, header_line + 1,
                             f"no frame column named '0' in header {lines[header_line]!r}")
    missing = [a for a in aus if a not in au_cols]
    if missing and missing_code is None:
        raise LabelFileError(path, header_line + 1,
                             f"header has no column for AU(s) {missing}: {lines[header_line]!r}")
    if missing:
        logging.warning("%s: no column for AU(s) %s; coded %d (not coded) for every frame", path,
                        missing, missing_code)
    cols = [au_cols.get(a) for a in aus]
    need = max([frame_col] + [c for c in cols if c is not None]) + 1
    out: Dict[int, np.ndarray] = {}
    for lineno in range(header_line + 2, len(lines) + 1):
        raw = lines[lineno - 1]
        if not raw.strip():
            continue
        fields = raw.split(",")
        if len(fields) < need:
            raise LabelFileError(path, lineno,
                                 f"{len(fields)} fields, header has {len(header)}: {raw!r}")
        frame = _as_int(fields[frame_col])
        if frame is None or frame < 0:
            raise LabelFileError(path, lineno, f"bad frame number {fields[frame_col]!r}")
        values = np.empty(len(aus), np.int64)
        for k, (au, col) in enumerate(zip(aus, cols)):
            if col is None:
                values[k] = missing_code
                continue
            v = _as_int(fields[col])
            if v is None or v not in allowed:
                raise LabelFileError(path, lineno, f"AU{au} value {fields[col].strip()!r} is not "
                                     f"one of {sorted(allowed)}")
            values[k] = v
        if frame in out:
            raise LabelFileError(path, lineno, f"frame {frame} appears twice")
        out[frame] = values
    if not out:
        raise LabelFileError(path, header_line + 1, "header but no label rows")
    return out


@dataclasses.dataclass
class FrameLabels:
    """Labels of one sequence: for each labelled frame, [A] labels and [A] mask (float32)."""

    labels: Dict[int, Tuple[np.ndarray, np.ndarray]]

    @property
    def frames(self) -> List[int]:
        return sorted(self.labels)

    def __contains__(self, frame: int) -> bool:
        return frame in self.labels

    def __getitem__(self, frame: int) -> Tuple[np.ndarray, np.ndarray]:
        return self.labels[frame]

    def __len__(self) -> int:
        return len(self.labels)


def to_targets(raw: np.ndarray, protocol: aus_lib.Protocol) -> Tuple[np.ndarray, np.ndarray]:
    """Raw integer codes [A] -> (labels, mask) float32 under ``protocol``.

    ``protocol.unknown_label`` (BP4D's 9) -> label 0, mask 0. For intensity-derived occurrence
    (``protocol.threshold`` set, DISFA) the label is ``intensity >= threshold``.
    """
    raw = np.asarray(raw, np.float64)
    mask = np.ones(raw.shape, np.float32)
    if protocol.unknown_label is not None:
        unknown = raw == protocol.unknown_label
        mask[unknown] = 0.0
        raw = np.where(unknown, 0.0, raw)
    if protocol.task == aus_lib.OCCURRENCE and protocol.threshold is not None:
        labels = aus_lib.intensity_to_occurrence(raw, protocol.threshold).astype(np.float32)
    else:
        labels = raw.astype(np.float32)
    return labels, mask


def combine_per_au(per_au: Mapping[int, Mapping[int, int]], protocol: aus_lib.Protocol,
                   tally: Tally, where: str) -> FrameLabels:
    """{AU: {frame: code}} -> FrameLabels over the frames every AU file has (intersection, logged).
    """
    frame_sets = [set(per_au[a]) for a in protocol.aus]
    common_frames = set.intersection(*frame_sets)
    union = set.union(*frame_sets)
    if len(union) != len(common_frames):
        lengths = {aus_lib.au_name(a): len(per_au[a]) for a in protocol.aus}
        logging.warning("%s: AU label files cover different frames %s; using the %d frames all "
                        "of them label", where, lengths, len(common_frames))
        tally.add("frames_dropped_label_mismatch", len(union) - len(common_frames))
    out = {}
    for f in sorted(common_frames):
        out[f] = to_targets(np.array([per_au[a][f] for a in protocol.aus]), protocol)
    return FrameLabels(out)


def from_rows(rows: Mapping[int, np.ndarray], protocol: aus_lib.Protocol) -> FrameLabels:
    return FrameLabels({f: to_targets(v, protocol) for f, v in sorted(rows.items())})


# --------------------------------------------------------------------------------------------
# Landmarks
# --------------------------------------------------------------------------------------------


def _open_for_library(path: epath.Path):
    """A local filename (fast path) or an in-memory file object for h5py / scipy / zipfile."""
    spath = str(path)
    if "://" not in spath:
        return spath
    return io.BytesIO(epath.Path(path).read_bytes())


def load_disfa_pts(path: epath.Path) -> Optional[np.ndarray]:
    """DISFA ``*_lm.mat``: variable ``pts`` (66 x 2, x then y, pixels). ``None`` when empty."""
    import scipy.io  # pylint: disable=g-import-not-at-top

    try:
        mat = scipy.io.loadmat(io.BytesIO(epath.Path(path).read_bytes()))
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f"{path}: cannot read landmark .mat file ({e})") from e
    if "pts" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: no variable 'pts' (found {keys})")
    pts = np.asarray(mat["pts"], np.float64)
    if pts.size == 0:
        return None
    if pts.shape == (2, 66):
        pts = pts.T
    if pts.shape != (66, 2):
        raise ValueError(f"{path}: 'pts' has shape {pts.shape}, expected (66, 2)")
    return pts.astype(np.float32)


def read_bp4d_landmarks(path: epath.Path) -> List[Optional[np.ndarray]]:
    """BP4D / BP4D+ ``2DFeatures/F001_T1.mat`` (MATLAB v7.3 = HDF5).

    ``fit/pred`` is a cell array with one 49 x 2 matrix per frame; HDF5 stores MATLAB matrices
    transposed (2 x 49). Empty cells (no fit) come back as ``None``.
    """
    import h5py  # pylint: disable=g-import-not-at-top

    try:
        h5 = h5py.File(_open_for_library(path), "r")
    except Exception as e:
        raise ValueError(f"{path}: cannot open as a MATLAB v7.3 (HDF5) file ({e})") from e
    with h5:
        if "fit" not in h5 or "pred" not in h5["fit"]:
            raise ValueError(f"{path}: no 'fit/pred' landmark cell array")
        refs = np.asarray(h5["fit"]["pred"][()]).reshape(-1)
        out: List[Optional[np.ndarray]] = []
        for i, ref in enumerate(refs):
            if not ref:
                out.append(None)
                continue
            ds = h5[ref]
            arr = np.asarray(ds[()])
            if ds.attrs.get("MATLAB_empty", 0) or arr.size == 0:
                out.append(None)
            elif arr.shape == (2, 49):
                out.append(arr.T.astype(np.float32))
            elif arr.shape == (49, 2):
                out.append(arr.astype(np.float32))
            else:
                raise ValueError(f"{path}: fit/pred cell {i} has shape {arr.shape}, "
                                 "expected 49 x 2")
    return out


def usable_points(points: Optional[np.ndarray]) -> bool:
    """Landmarks worth aligning on: present, finite, not all zero, not collapsed to a point."""
    if points is None:
        return False
    points = np.asarray(points, np.float64)
    if points.size == 0 or not np.all(np.isfinite(points)) or not np.any(points):
        return False
    return float(np.ptp(points[:, 0])) > 1.0 and float(np.ptp(points[:, 1])) > 1.0


# --------------------------------------------------------------------------------------------
# Faces
# --------------------------------------------------------------------------------------------


class FaceMaker:
    """Source frame + source landmarks -> (aligned 256x256 RGB uint8, [68, 2] float32 landmarks).

    Landmarks in ``scheme`` ("disfa66", "bp4d49") are converted to 68 points
    (``tfau.geometry.to_68``), completed (``complete_landmarks``) and used for a similarity
    alignment (``tfau.face.align_to_landmarks``). Frames without usable landmarks are re-detected
    with dlib (``tfau.face.FaceAligner``) when ``redetect`` is on, else skipped. Every outcome is
    counted in ``tally``: ``from_landmarks``, ``redetected``, ``skipped_no_landmarks``,
    ``skipped_no_face``.
    """

    def __init__(self, scheme: Optional[str], tally: Tally, *, redetect: bool = True,
                 size: int = 256):
        self.scheme = scheme
        self.tally = tally
        self.redetect = redetect
        self.size = size
        self._aligner = None

    # Factory of the re-detector; None = ``tfau.face.FaceAligner``. Tests swap in a fake.
    aligner_factory: Optional[Callable[[], object]] = None

    def _detector(self):
        if self._aligner is None:
            factory = type(self).aligner_factory
            if factory is None:
                from tfau import face  # pylint: disable=g-import-not-at-top

                factory = face.FaceAligner
            self._aligner = factory()
        return self._aligner

    def __call__(self, image: np.ndarray, points: Optional[np.ndarray] = None
                 ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        from tfau import face, geometry  # pylint: disable=g-import-not-at-top

        if points is not None and self.scheme is not None and usable_points(points):
            lm68 = geometry.complete_landmarks(geometry.to_68(np.asarray(points, np.float32),
                                                              self.scheme))
            aligned = face.align_to_landmarks(image, lm68, size=self.size)
            self.tally.add("from_landmarks")
            return _checked(aligned.image, aligned.landmarks, self.size)
        if not self.redetect:
            self.tally.add("skipped_no_landmarks")
            return None
        result = self._detector().align(image)
        faces = list(getattr(result, "faces", None) or [])
        if not getattr(result, "success", False) or not faces:
            self.tally.add(f"skipped_{getattr(result, 'flag', None) or 'no_face'}")
            return None
        if len(faces) > 1:
            self.tally.add("redetected_several_faces_took_largest")
        self.tally.add("redetected")
        return _checked(faces[0].image, faces[0].landmarks, self.size)


def _checked(image, landmarks, size) -> Tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    landmarks = np.asarray(landmarks, np.float32).reshape(68, 2)
    if image.shape != (size, size, 3):
        raise ValueError(f"aligned face has shape {image.shape}, expected {(size, size, 3)}")
    return image, landmarks


def example(image: np.ndarray, landmarks: np.ndarray, labels: np.ndarray, mask: np.ndarray,
            subject: str, sequence: str, frame: int) -> dict:
    """One example in the structure of ``tfau_datasets.common.example_features``."""
    return {
        "image": image,
        "landmarks": np.asarray(landmarks, np.float32),
        "labels": np.asarray(labels, np.float32),
        "label_mask": np.asarray(mask, np.float32),
        "subject": subject,
        "sequence": sequence,
        "frame": np.int32(frame),
    }


def decode_image(data: bytes, name: str) -> Optional[np.ndarray]:
    """JPEG/PNG bytes -> RGB uint8, ``None`` (logged) when undecodable."""
    import cv2  # pylint: disable=g-import-not-at-top

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        logging.warning("cannot decode image %s; frame skipped", name)
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_video(path: epath.Path, wanted: Optional[Iterable[int]] = None
               ) -> Iterator[Tuple[int, Optional[np.ndarray]]]:
    """(0-based frame index, RGB frame) for every frame of a video, read in order.

    Frames not in ``wanted`` are skipped without decoding and yielded as ``None`` (so the caller
    still learns the frame count).
    """
    import cv2  # pylint: disable=g-import-not-at-top

    wanted = None if wanted is None else set(wanted)
    local, cleanup = local_copy(path)
    cap = cv2.VideoCapture(local)
    try:
        if not cap.isOpened():
            raise IOError(f"OpenCV cannot open video {path}")
        index = 0
        while True:
            if wanted is not None and index not in wanted:
                if not cap.grab():
                    break
                yield index, None
            else:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
        if cleanup:
            cleanup()


# --------------------------------------------------------------------------------------------
# Subjects and splits
# --------------------------------------------------------------------------------------------


def assign_splits(found: Iterable[str], splits: Mapping[str, Sequence[str]], dataset: str,
                  where: str, list_name: str) -> Dict[str, List[str]]:
    """{split: sorted subjects on disk}. Subjects in no list -> ValueError; absent ones logged.

    Splits with no subject on disk are left out (with a warning): TFDS cannot write empty splits.
    """
    found = sorted(set(found))
    known = set(s for subjects in splits.values() for s in subjects)
    unknown = [s for s in found if s not in known]
    if unknown:
        raise ValueError(f"{dataset}: subject(s) {unknown} found in {where} are in none of the "
                         f"split lists ({list_name} in tfau_datasets/common.py); remove them from "
                         "the manual directory or add them to a split list")
    absent = sorted(known - set(found))
    if absent:
        logging.info("%s: %d of %d subjects are not in %s (a subset is fine): %s", dataset,
                     len(absent), len(known), where, " ".join(absent))
    out = {}
    for split, subjects in splits.items():
        members = [s for s in found if s in subjects]
        if members:
            out[split] = members
        else:
            logging.warning("%s: no subject of split %r on disk; the split is left out", dataset,
                            split)
    if not out:
        raise FileNotFoundError(f"{dataset}: no subject found in {where}")
    return out


# --------------------------------------------------------------------------------------------
# BP4D / BP4D+ layouts
# --------------------------------------------------------------------------------------------

BINGHAMTON = "binghamton"
FERA2015 = "fera2015"

_SEQ_FILE = re.compile(r"^([FM]\d{3})_(T\d+)(?:_AU\d+)?\.csv$", re.IGNORECASE)
_IMAGE_ENTRY = re.compile(r"(?:^|/)(T\d+)/(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)
_SUBJECT = re.compile(r"^[FM]\d{3}$", re.IGNORECASE)


def _seq_id(subject: str, task: str) -> Tuple[str, str]:
    return subject.upper(), task.upper()


class Bp4dLayout:
    """The files of a BP4D or BP4D+ copy, in either layout.

    Binghamton: ``2D+3D/F001.zip`` (entries ``<top>/T1/0000.jpg``; an extracted ``2D+3D/F001/``
    folder works too), ``2DFeatures/F001_T1.mat``, ``AUCoding/AU_OCC/F001_T1.csv``,
    ``AUCoding/AU_INT/AU06/F001_T1_AU06.csv``.
    FERA 2015: ``BP4D-training/F001/T1/<frame>.jpg`` (any ``BP4D-*`` image folder),
    ``AUCoding/F001_T1.csv``, ``AU Intensity Codes3.0/AU06/F001_T1_AU06.csv`` (spellings vary),
    no landmarks.
    """

    def __init__(self, manual_dir: epath.Path, layout: str = "auto"):
        markers = {BINGHAMTON: ("2D+3D", "2D3D"), FERA2015: ("BP4D-training", "BP4D-development",
                                                            "BP4D-devel", "BP4D-test")}
        order = [BINGHAMTON, FERA2015] if layout == "auto" else [layout]
        if any(o not in markers for o in order):
            raise ValueError(f"unknown BP4D layout {layout!r}; use 'auto', {BINGHAMTON!r} or "
                             f"{FERA2015!r}")
        self.root, k = find_root(manual_dir, [markers[o] for o in order])
        self.layout = order[k]
        self.manual_dir = epath.Path(manual_dir)
        coding = find_child(self.root, "AUCoding", "AU_Coding", is_dir=True)
        if self.layout == BINGHAMTON:
            self.image_dirs = [find_child(self.root, *markers[BINGHAMTON], is_dir=True)]
            self.landmark_dir = find_child(self.root, "2DFeatures", is_dir=True)
            self.occurrence_dir = coding and find_child(coding, "AU_OCC", "AUOCC", is_dir=True)
            self.intensity_dir = coding and find_child(coding, "AU_INT", "AUINT", is_dir=True)
        else:
            self.image_dirs = [c for c in list_dir(self.root)
                               if c.is_dir() and normalize(c.name).startswith("bp4d")]
            self.landmark_dir = None
            self.occurrence_dir = coding and (find_child(coding, "AU_OCC", is_dir=True) or coding)
            self.intensity_dir = (find_child(self.root, "AUIntensityCodes", is_dir=True,
                                             prefix=True)
                                  or (coding and find_child(coding, "AUIntensityCodes",
                                                            is_dir=True, prefix=True)))
        self._zips: Dict[str, zipfile.ZipFile] = {}

    def describe(self) -> str:
        return f"{self.layout} layout at {self.root}"

    def image_subjects(self) -> List[str]:
        """Subjects with an image archive (F001.zip) or folder (F001/)."""
        out = set()
        for d in self.image_dirs:
            for c in list_dir(d):
                name = c.name[:-4] if c.name.lower().endswith(".zip") else c.name
                if _SUBJECT.match(name):
                    out.add(name.upper())
        return sorted(out)

    # ---- labels --------------------------------------------------------------------------

    def occurrence_files(self) -> Dict[Tuple[str, str], epath.Path]:
        if self.occurrence_dir is None:
            raise FileNotFoundError(f"no AU occurrence folder (AUCoding/AU_OCC or AUCoding) in "
                                    f"{self.root}")
        out = {}
        for f in list_dir(self.occurrence_dir):
            m = _SEQ_FILE.match(f.name)
            if m and f.is_file() and "_AU" not in f.name.upper():
                out[_seq_id(*m.groups())] = f
        if not out:
            raise FileNotFoundError(f"no F001_T1.csv-style occurrence file in "
                                    f"{self.occurrence_dir}")
        return out

    def intensity_files(self, aus: Sequence[int]) -> Dict[Tuple[str, str], Dict[int, epath.Path]]:
        """{(subject, task): {AU: file}}; a sequence coded for some AUs but not all -> error."""
        if self.intensity_dir is None:
            raise FileNotFoundError(f"no AU intensity folder (AUCoding/AU_INT or 'AU Intensity "
                                    f"Codes3.0') in {self.root}")
        per_seq: Dict[Tuple[str, str], Dict[int, epath.Path]] = collections.defaultdict(dict)
        au_dirs = {}
        for au in aus:
            d = find_child(self.intensity_dir, f"AU{au:02d}", f"AU{au}", is_dir=True)
            if d is None:
                raise FileNotFoundError(f"no folder AU{au:02d} in {self.intensity_dir}")
            au_dirs[au] = d
            for f in list_dir(d):
                m = _SEQ_FILE.match(f.name)
                if m and f.is_file():
                    per_seq[_seq_id(*m.groups())][au] = f
        for (subject, task), files in sorted(per_seq.items()):
            missing = [a for a in aus if a not in files]
            if missing:
                names = [str(au_dirs[a] / f"{subject}_{task}_AU{a:02d}.csv") for a in missing]
                raise FileNotFoundError(f"{subject} {task} has intensity codes for "
                                        f"{sorted(files)} but not for {missing}: missing "
                                        f"{', '.join(names)}")
        return dict(per_seq)

    # ---- images ----------------------------------------------------------------------------

    def subject_images(self, subject: str) -> Dict[str, Dict[int, str]]:
        """{task: {frame number: image name}} for one subject ({} when the subject has none)."""
        out: Dict[str, Dict[int, str]] = collections.defaultdict(dict)
        for image_dir in self.image_dirs:
            archive = find_child(image_dir, f"{subject}.zip", is_dir=False)
            folder = find_child(image_dir, subject, is_dir=True)
            if archive is not None:
                zf = self._zip(subject, archive)
                for name in zf.namelist():
                    m = _IMAGE_ENTRY.search(name.replace("\\", "/"))
                    if m:
                        out[m.group(1).upper()][int(m.group(2))] = "zip:" + name
            elif folder is not None:
                for task_dir in list_dir(folder):
                    if task_dir.is_dir() and re.fullmatch(r"T\d+", task_dir.name, re.I):
                        for img in list_dir(task_dir):
                            m = re.fullmatch(r"(\d+)\.(?:jpe?g|png)", img.name, re.I)
                            if m:
                                out[task_dir.name.upper()][int(m.group(1))] = str(img)
        return dict(out)

    def _zip(self, subject: str, archive: epath.Path) -> zipfile.ZipFile:
        if subject not in self._zips:
            self.close()  # one subject's archive open at a time
            try:
                self._zips[subject] = zipfile.ZipFile(_open_for_library(archive))
            except zipfile.BadZipFile as e:
                raise ValueError(f"{archive}: not a readable zip file ({e})") from e
        return self._zips[subject]

    def read_image(self, subject: str, name: str) -> Optional[np.ndarray]:
        if name.startswith("zip:"):
            data = self._zips[subject].read(name[4:])
            return decode_image(data, f"{subject}.zip:{name[4:]}")
        return decode_image(epath.Path(name).read_bytes(), name)

    def close(self) -> None:
        for zf in self._zips.values():
            zf.close()
        self._zips.clear()

    # ---- landmarks -------------------------------------------------------------------------

    def landmark_file(self, subject: str, task: str) -> Optional[epath.Path]:
        if self.landmark_dir is None:
            return None
        return find_child(self.landmark_dir, f"{subject}_{task}.mat", is_dir=False)


def bp4d_subjects_on_disk(layout: Bp4dLayout, sequences: Iterable[Tuple[str, str]]) -> List[str]:
    """Subjects with labels, checked to have images (a labelled subject without images -> error).
    """
    subjects = sorted({s for s, _ in sequences})
    for s in subjects:
        if not any(find_child(d, f"{s}.zip", is_dir=False) or find_child(d, s, is_dir=True)
                   for d in layout.image_dirs):
            raise FileNotFoundError(f"{s} has AU labels but no images ({s}.zip or {s}/) in "
                                    f"{', '.join(str(d) for d in layout.image_dirs)}")
    return subjects


def bp4d_generate(layout: Bp4dLayout, subjects: Sequence[str],
                  labels_of: Mapping[Tuple[str, str], Callable[[Tally], FrameLabels]],
                  make_face: FaceMaker, tally: Tally) -> Iterator[Tuple[str, dict]]:
    """Examples of ``subjects`` (sorted), their labelled tasks (sorted) and frames (sorted).

    A frame is kept when it has both an image and a label (intersection, mismatches logged);
    frames whose every AU is unknown carry no supervision and are skipped (counted).
    Landmark cell i of ``2DFeatures`` belongs to the i-th image of the task in frame order; when
    the counts differ the file is not trusted for that task (logged) and faces are re-detected.
    """
    tasks_of = collections.defaultdict(list)
    for s, t in labels_of:
        tasks_of[s].append(t)
    try:
        for subject in subjects:
            images = layout.subject_images(subject)
            for task in sorted(tasks_of[subject], key=lambda t: int(t[1:])):
                where = f"{subject} {task}"
                labels = labels_of[(subject, task)](tally)
                task_images = images.get(task, {})
                if not task_images:
                    logging.warning("%s: labelled but no images; %d labelled frames skipped",
                                    where, len(labels))
                    tally.add("frames_labelled_without_image", len(labels))
                    continue
                image_frames = sorted(task_images)
                landmarks: List[Optional[np.ndarray]] = []
                lm_file = layout.landmark_file(subject, task)
                if lm_file is not None:
                    landmarks = read_bp4d_landmarks(lm_file)
                    if len(landmarks) != len(image_frames):
                        logging.warning("%s: %s has %d landmark cells for %d images; landmarks "
                                        "not used for this task (faces re-detected)", where,
                                        lm_file.name, len(landmarks), len(image_frames))
                        tally.add("tasks_landmark_count_mismatch")
                        landmarks = []
                elif layout.landmark_dir is not None:
                    logging.warning("%s: no landmark file %s_%s.mat; faces re-detected", where,
                                    subject, task)
                    tally.add("tasks_without_landmark_file")
                landmark_of = dict(zip(image_frames, landmarks))
                unlabelled = [f for f in labels.frames if f not in task_images]
                if unlabelled:
                    logging.warning("%s: %d labelled frames have no image (frames %d..%d); using "
                                    "the intersection", where, len(unlabelled), unlabelled[0],
                                    unlabelled[-1])
                    tally.add("frames_labelled_without_image", len(unlabelled))
                for frame in labels.frames:
                    if frame not in task_images:
                        continue
                    y, mask = labels[frame]
                    if not mask.any():
                        tally.add("skipped_all_unknown")
                        continue
                    image = layout.read_image(subject, task_images[frame])
                    if image is None:
                        tally.add("skipped_unreadable_image")
                        continue
                    face = make_face(image, landmark_of.get(frame))
                    if face is None:
                        continue
                    tally.add("examples")
                    yield f"{subject}_{task}_{frame:05d}", example(face[0], face[1], y, mask,
                                                                   subject, task, frame)
    finally:
        layout.close()
        tally.log()


_INTENSITY_CODES = (0, 1, 2, 3, 4, 5, 9)


def _occurrence_labels(path: epath.Path, protocol: aus_lib.Protocol, missing_code: Optional[int],
                       tally: Tally) -> FrameLabels:
    del tally
    return from_rows(parse_occurrence_csv(path, protocol.aus, missing_code=missing_code),
                     protocol)


def _intensity_labels(files: Mapping[int, epath.Path], protocol: aus_lib.Protocol, where: str,
                      tally: Tally) -> FrameLabels:
    per_au = {au: parse_frame_values(files[au], _INTENSITY_CODES) for au in protocol.aus}
    return combine_per_au(per_au, protocol, tally, where)


def bp4d_label_readers(layout: Bp4dLayout, protocol: aus_lib.Protocol
                       ) -> Dict[Tuple[str, str], Callable[[Tally], FrameLabels]]:
    """{(subject, task): reader(tally) -> FrameLabels} for every labelled sequence on disk."""
    if protocol.task == aus_lib.OCCURRENCE:
        # FERA 2015 coded 11 of BP4D's 12 occurrence AUs (not AU24): a column missing from the
        # FERA package's files is masked (logged); in the Binghamton release it is an error.
        missing_code = protocol.unknown_label if layout.layout == FERA2015 else None
        return {seq: functools.partial(_occurrence_labels, path, protocol, missing_code)
                for seq, path in sorted(layout.occurrence_files().items())}
    return {seq: functools.partial(_intensity_labels, files, protocol, f"{seq[0]} {seq[1]}")
            for seq, files in sorted(layout.intensity_files(protocol.aus).items())}


@dataclasses.dataclass(eq=False)
class Bp4dConfig(tfds.core.BuilderConfig):
    """One BP4D / BP4D+ variant.

    Attributes:
      protocol: a ``tfau.aus`` protocol name (``bp4d_occurrence``, ``bp4d_intensity``,
        ``bp4d_plus_occurrence``).
      layout: ``auto`` (detect), ``binghamton`` (zips + 2DFeatures) or ``fera2015``.
      redetect: re-detect faces with dlib where the source has no landmarks (empty 2DFeatures
        cells; every frame of the FERA 2015 package); off: such frames are skipped (counted).
    """

    protocol: str = "bp4d_occurrence"
    layout: str = "auto"
    redetect: bool = True

    def get_protocol(self) -> aus_lib.Protocol:
        return aus_lib.get_protocol(self.protocol)


@dataclasses.dataclass
class Bp4dPlan:
    """What a BP4D / BP4D+ build reads: the layout, label readers and subjects per split."""

    layout: Bp4dLayout
    labels_of: Dict[Tuple[str, str], Callable[[Tally], FrameLabels]]
    members: Dict[str, List[str]]

    @classmethod
    def create(cls, manual_dir: epath.Path, config: Bp4dConfig, dataset: str,
               splits: Mapping[str, Sequence[str]], list_name: str) -> "Bp4dPlan":
        layout = Bp4dLayout(manual_dir, config.layout)
        logging.info("%s: reading the %s", dataset, layout.describe())
        if layout.layout == FERA2015 and not config.redetect:
            raise ValueError(f"{dataset}: the FERA 2015 package has no landmarks, so every face "
                             "must be detected: use a config with redetect=True")
        labels_of = bp4d_label_readers(layout, config.get_protocol())
        labelled = bp4d_subjects_on_disk(layout, labels_of)
        image_only = sorted(set(layout.image_subjects()) - set(labelled))
        if image_only:
            logging.info("%s: subjects with images but no labels (ignored): %s", dataset,
                         " ".join(image_only))
        members = assign_splits(sorted(set(labelled) | set(image_only)), splits, dataset,
                                str(layout.root), list_name)
        members = {k: [s for s in v if s in labelled] for k, v in members.items()}
        return cls(layout, labels_of, {k: v for k, v in members.items() if v})


# --------------------------------------------------------------------------------------------
# Dummy data and test helpers (the make_dummy_data.py scripts and the builder tests)
# --------------------------------------------------------------------------------------------


def dummy_face_landmarks(frame_size: Tuple[int, int], seed: int) -> np.ndarray:
    """68 plausible landmarks in a ``(width, height)`` frame: ``TEMPLATE_68`` moved by a small
    seed-dependent similarity (scale ~0.45, rotation within +-6 degrees, shift)."""
    from tfau import geometry  # pylint: disable=g-import-not-at-top

    width, height = frame_size
    rng = np.random.default_rng(seed)
    scale = 0.5 * min(width, height) / geometry.TEMPLATE_SIZE * rng.uniform(1.3, 1.5)
    angle = np.deg2rad(rng.uniform(-6.0, 6.0))
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.05, 0.05, 2) * (width, height)
    pts = (geometry.TEMPLATE_68 - geometry.TEMPLATE_SIZE / 2) @ rot.T + centre
    return pts.astype(np.float32)


def draw_dummy_face(frame_size: Tuple[int, int], landmarks68: np.ndarray,
                    background: int = 90) -> np.ndarray:
    """A cartoon face (RGB uint8) drawn on its 68 landmarks: skin, brows, eyes, nose, lips."""
    import cv2  # pylint: disable=g-import-not-at-top

    width, height = frame_size
    img = np.full((height, width, 3), background, np.uint8)
    p = np.round(np.asarray(landmarks68, np.float64)).astype(np.int32)
    outline = np.concatenate([p[0:17], p[26:16:-1]])
    cv2.fillPoly(img, [cv2.convexHull(outline)], (224, 180, 150))
    cv2.polylines(img, [p[17:22], p[22:27]], False, (70, 45, 30), 2)
    for eye in (p[36:42], p[42:48]):
        cv2.fillPoly(img, [eye], (250, 250, 250))
        cv2.circle(img, tuple(int(v) for v in eye.mean(axis=0)), 2, (40, 30, 30), -1)
    cv2.polylines(img, [p[27:31], p[31:36]], False, (150, 100, 80), 1)
    cv2.fillPoly(img, [p[48:60]], (170, 60, 60))
    cv2.fillPoly(img, [p[60:68]], (90, 20, 30))
    return img


@dataclasses.dataclass
class _FakeFace:
    image: np.ndarray
    landmarks: np.ndarray


@dataclasses.dataclass
class _FakeResult:
    success: bool
    flag: str
    faces: list


class FakeFaceAligner:
    """Stands in for ``tfau.face.FaceAligner`` in tests (dummy faces are not dlib-detectable):
    "detects" the face filling the frame, i.e. returns the frame resized to 256 x 256 with
    ``TEMPLATE_68`` as its landmarks; with ``succeed=False`` it finds no face."""

    succeed = True
    calls = 0

    def __init__(self, *args, **kwargs):
        del args, kwargs

    def align(self, image):
        import cv2  # pylint: disable=g-import-not-at-top
        from tfau import geometry  # pylint: disable=g-import-not-at-top

        type(self).calls += 1
        if not type(self).succeed:
            return _FakeResult(False, "no_face", [])
        face = cv2.resize(np.asarray(image, np.uint8), (256, 256))
        return _FakeResult(True, "ok", [_FakeFace(face, geometry.TEMPLATE_68.copy())])


def examples_by_split(builder, manual_dir) -> Dict[str, Dict[str, dict]]:
    """{split: {key: example}} straight from a builder's generators: no TFDS writing, no JPEG
    encoding (value tests; the TFDS round trip is covered by DatasetBuilderTestCase)."""
    import types  # pylint: disable=g-import-not-at-top

    generators = builder._split_generators(  # pylint: disable=protected-access
        types.SimpleNamespace(manual_dir=epath.Path(manual_dir)))
    return {split: dict(gen) for split, gen in generators.items()}
