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
import os
import re
import tempfile
import zipfile
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from etils import epath

import tensorflow_datasets as tfds

from tfau import aus as aus_lib
from tfau_datasets.build_lib import Tally  # pylint: disable=unused-import (builders use lib.Tally)

ALIGNER_ENV = "TFAU_FACE_ALIGNER"  # "module:attribute" of a face aligner class (default dlib's)
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


# Zip archives as folders: the licensed datasets arrive as zips (DISFA's ActionUnit_Labels.zip,
# Landmark_Points.zip with a nested SN001.zip per subject, ...) and are read without unpacking.

_ZIP_CACHE: "collections.OrderedDict[Tuple[str, ...], zipfile.ZipFile]" = collections.OrderedDict()
_ZIP_CACHE_SIZE = 3


def _open_zip(chain: Tuple[str, ...]) -> zipfile.ZipFile:
    """The zip at ``chain`` = (file path, member, member, ...): a nested zip is read into
    memory. A few stay open (least recently used closed first)."""
    if chain in _ZIP_CACHE:
        _ZIP_CACHE.move_to_end(chain)
        return _ZIP_CACHE[chain]
    where = " > ".join(chain)
    try:
        if len(chain) == 1:
            zf = zipfile.ZipFile(zip_source(epath.Path(chain[0])))
        else:
            zf = zipfile.ZipFile(io.BytesIO(_open_zip(chain[:-1]).read(chain[-1])))
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        raise ValueError(f"{where}: not a readable zip file ({e})") from e
    _ZIP_CACHE[chain] = zf
    while len(_ZIP_CACHE) > _ZIP_CACHE_SIZE:
        _ZIP_CACHE.popitem(last=False)[1].close()
    return zf


@dataclasses.dataclass(frozen=True)
class Entry:
    """A file in a folder or inside a (possibly nested) zip. Picklable (Beam ships it).

    ``chain`` is (file system path,) for a plain file, else (zip path, member[, member ...]).
    ``parts`` are the folder and file names leading to it below the walk's root, zips counted
    as folders (``Landmark_Points.zip/SN001.zip/SN001/x_lm.mat`` -> 4 parts).
    """

    chain: Tuple[str, ...]
    parts: Tuple[str, ...]

    @property
    def name(self) -> str:
        return self.parts[-1]

    def __str__(self) -> str:
        return " > ".join(self.chain)

    def read_bytes(self) -> bytes:
        if len(self.chain) == 1:
            return epath.Path(self.chain[0]).read_bytes()
        try:
            return _open_zip(self.chain[:-1]).read(self.chain[-1])
        except (zipfile.BadZipFile, OSError, KeyError) as e:
            raise ValueError(f"{self}: cannot read ({e})") from e

    def local_file(self) -> Tuple[str, Optional[Callable[[], None]]]:
        """A local filename (zip members are extracted to a temporary file) + a cleanup."""
        if len(self.chain) == 1:
            return local_copy(epath.Path(self.chain[0]))
        import shutil  # pylint: disable=g-import-not-at-top

        suffix = "." + self.name.rsplit(".", 1)[-1] if "." in self.name else ""
        tmp = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
        with tmp, _open_zip(self.chain[:-1]).open(self.chain[-1]) as src:
            shutil.copyfileobj(src, tmp, 1 << 20)
        return tmp.name, lambda: epath.Path(tmp.name).unlink(missing_ok=True)


def walk(root: epath.Path, max_depth: int = 6) -> List[Entry]:
    """Every file under ``root`` (folders down to ``max_depth``), looking inside ``.zip`` files
    (and zips inside those) as if they were folders; sorted by path."""
    out: List[Entry] = []

    def in_zip(chain: Tuple[str, ...], parts: Tuple[str, ...]) -> None:
        zf = _open_zip(chain)
        for info in zf.infolist():
            if info.is_dir():
                continue
            member = info.filename
            sub = parts + tuple(p for p in member.replace("\\", "/").split("/") if p)
            if member.lower().endswith(".zip"):
                in_zip(chain + (member,), sub)
            else:
                out.append(Entry(chain + (member,), sub))

    level = [(epath.Path(root), ())]
    for _ in range(max_depth):
        nxt = []
        for folder, parts in level:
            for child in list_dir(folder):
                sub = parts + (child.name,)
                if child.is_dir():
                    nxt.append((child, sub))
                elif child.name.lower().endswith(".zip"):
                    in_zip((str(child),), sub)
                else:
                    out.append(Entry((str(child),), sub))
        level = nxt
    return sorted(out, key=lambda e: e.parts)


def read_bytes(path) -> bytes:
    """Bytes of an ``epath.Path`` / str path or an :class:`Entry` (a file inside a zip)."""
    if isinstance(path, Entry):
        return path.read_bytes()
    return epath.Path(path).read_bytes()


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


def _lines(path) -> List[str]:
    try:
        data = read_bytes(path)
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
                         missing_code: Optional[int] = None,
                         positional: Optional[Sequence[int]] = None,
                         tally: Optional[Tally] = None) -> Dict[int, np.ndarray]:
    """Reads a BP4D / BP4D+ occurrence CSV by header name.

    The header names the columns: ``0`` (or ``frame``) is the frame number, every other column
    is an AU number. Returns {frame: int array over ``aus``}. Short rows, non-integers and values
    outside ``allowed`` raise LabelFileError with the file and line; so do AU columns missing from
    the header, unless ``missing_code`` is given (then those AUs get that code, e.g. 9 = unknown,
    and a warning names the file).

    ``positional``: the AU of each column after the frame column, in file order (BP4D+'s 34).
    When the header does not name the AUs we expect but the row has exactly ``1 +
    len(positional)`` columns, columns are taken by position (as the public readers index them)
    and the fallback is logged naming the file.
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
    missing = [a for a in aus if a not in au_cols]
    if ((frame_col is None or missing) and positional is not None
            and len(header) == 1 + len(positional)):
        logging.warning("%s: header %r does not name the AU columns expected; reading the %d "
                        "columns by position (frame, then AUs %s)", path,
                        lines[header_line][:80], len(header), list(positional))
        frame_col, au_cols, missing = 0, {a: 1 + k for k, a in enumerate(positional)}, []
        if tally is not None:
            tally.add("label_files_read_by_position")
        if _as_int(header[0]) is not None and _as_int(header[0]) > 0:
            header_line -= 1  # no header row: the first line is a label row
    if frame_col is None:
        raise LabelFileError(path, header_line + 1,
                             f"no frame column named '0' in header {lines[header_line]!r}")
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


def zip_source(path: epath.Path):
    """What ``zipfile.ZipFile`` opens: a local filename, or a seekable remote file object (a
    multi-GB zip on GCS is read member by member, never whole into memory)."""
    spath = str(path)
    if "://" not in spath:
        return spath
    return epath.Path(path).open("rb")


def _open_for_library(path: epath.Path):
    """A local filename (fast path) or an in-memory file object for h5py / scipy / zipfile."""
    spath = str(path)
    if "://" not in spath:
        return spath
    return io.BytesIO(epath.Path(path).read_bytes())


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
            if factory is None and os.environ.get(ALIGNER_ENV):
                # "module:attribute": reaches Beam's worker processes, where a patched class
                # attribute does not (tests use it to put in the fake aligner).
                import importlib  # pylint: disable=g-import-not-at-top

                module, _, attr = os.environ[ALIGNER_ENV].partition(":")
                factory = getattr(importlib.import_module(module), attr)
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


def iter_video(path, wanted: Optional[Iterable[int]] = None,
               on_bad_frame: Optional[Callable[[int], None]] = None
               ) -> Iterator[Tuple[int, Optional[np.ndarray]]]:
    """(0-based frame index, RGB frame) for every frame of a video, read in order.

    Frames not in ``wanted`` are skipped without decoding and yielded as ``None`` (so the caller
    still learns the frame count). A frame that cannot be decoded before the container's last
    frame (``CAP_PROP_FRAME_COUNT``) is not yielded: it is logged, passed to ``on_bad_frame``,
    and reading goes on after it (the reader seeks past it), so one damaged frame does not cut
    the video short. ``path`` is an ``epath.Path`` or a :class:`Entry` (a video inside a zip).
    """
    import cv2  # pylint: disable=g-import-not-at-top

    wanted = None if wanted is None else set(wanted)
    if isinstance(path, Entry):
        local, cleanup = path.local_file()
    else:
        local, cleanup = local_copy(path)
    cap = cv2.VideoCapture(local)
    try:
        if not cap.isOpened():
            raise IOError(f"OpenCV cannot open video {path}")
        n_declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index = 0
        while True:
            if wanted is not None and index not in wanted:
                ok, rgb = cap.grab(), None
            else:
                ok, bgr = cap.read()
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None
            if ok:
                yield index, rgb
                index += 1
                continue
            if index >= n_declared - 1:
                break  # the end of the container (or a damaged last frame: nothing follows)
            logging.warning("%s: frame %d (0-based) cannot be decoded; skipped, reading on",
                            path, index)
            if on_bad_frame is not None:
                on_bad_frame(index)
            index += 1
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
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
