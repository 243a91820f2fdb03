"""DISFA (Mavadati et al. 2013): 27 subjects, left/right camera videos, 12 AU intensities 0-5.

Splits ``fold1``..``fold3`` are the subject-exclusive parts of ``common.DISFA_FOLDS``; fold K
tests on ``foldK`` and trains on the other two (``common.train_test_splits``).
"""
from __future__ import annotations

import dataclasses
import functools
import io
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from tfau import aus as aus_lib
from tfau_datasets import au_builder_lib as lib
from tfau_datasets import build_lib
from tfau_datasets import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
DISFA is licensed: request it at http://mohammadmahoor.com/disfa/ and point the manual directory
(default ~/tensorflow_datasets/downloads/manual/, or pass --manual_dir) at the folder holding the
files as you received them, at most two folder levels down. The zips are read as shipped, and
the folders they make when unpacked in place work too:

  ActionUnit_Labels.zip    (SN001/SN001_au1.txt ...)    or ActionUnit_Labels/SN001/SN001_au1.txt
  Videos_LeftCamera.zip    (LeftVideoSN001_comp.avi)    or Videos_LeftCamera/LeftVideoSN001_comp.avi
  Video_RightCamera.zip    (right-camera configs only)  or Video_RightCamera/RightVideoSN001_Comp.avi
  Landmark_Points.zip      (SN001/tmp_frame_lm/SN001_0000_lm.mat, or a nested SN001.zip per
                            subject)                    or Landmark_Points/SN001/tmp_frame_lm/...

Names are matched case-insensitively; a subset of the 27 subjects is fine.
"""

_SUBJECT = re.compile(r"^(SN\d{3})(?:\.zip)?$", re.IGNORECASE)
_SUBJECT_IN_NAME = re.compile(r"SN\d{3}", re.IGNORECASE)
_LABEL_FILE = re.compile(r"^(SN\d{3})_au0*(\d+)\.txt$", re.IGNORECASE)
_LANDMARK_FILE = re.compile(r"(\d+)_lm\.mat$", re.IGNORECASE)
_VIDEO_EXT = (".avi", ".mp4", ".mov", ".mkv", ".wmv")
_INTENSITIES = range(0, 6)


@dataclasses.dataclass(eq=False)
class DisfaConfig(tfds.core.BuilderConfig):
    """One DISFA variant.

    Attributes:
      protocol: ``disfa_intensity`` (12 AUs, 0-5) or ``disfa_occurrence`` (8 AUs, 0/1).
      threshold: occurrence only: an AU is positive when its intensity >= threshold
        (2 = ROI-GCN/JAA-Net convention, 1 = RE-Net's "> 0").
      camera: ``left`` (the camera DISFA's landmarks belong to) or ``right``.
      redetect: re-detect faces with dlib where landmarks are missing or empty (all frames of
        the right camera); off: such frames are skipped (counted in the log).
    """

    protocol: str = "disfa_intensity"
    threshold: Optional[float] = None
    camera: str = lib.LEFT
    redetect: bool = True

    def get_protocol(self) -> aus_lib.Protocol:
        return aus_lib.get_protocol(self.protocol, self.threshold)


def _configs() -> List[DisfaConfig]:
    base = [
        ("intensity", "disfa_intensity", None, "12 AUs, intensity 0-5"),
        ("occurrence", "disfa_occurrence", 2.0, "8 AUs, positive when intensity >= 2"),
        ("occurrence_gt0", "disfa_occurrence", 1.0, "8 AUs, positive when intensity > 0 (RE-Net)"),
    ]
    out = []
    for camera in (lib.LEFT, lib.RIGHT):
        for name, protocol, threshold, text in base:
            suffix = "" if camera == lib.LEFT else "_right"
            landmarks = ("source landmarks" if camera == lib.LEFT else
                         "faces detected with dlib (DISFA's landmarks are for the left camera)")
            out.append(DisfaConfig(name=name + suffix, protocol=protocol, threshold=threshold,
                                   camera=camera,
                                   description=f"{camera} camera, {text}; {landmarks}"))
    return out


class Builder(build_lib.BuilderMixin, tfds.core.GeneratorBasedBuilder):
    """DISFA aligned faces with AU intensity or occurrence labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = _configs()

    def _info(self) -> tfds.core.DatasetInfo:
        # Description and citation: README.md and CITATIONS.bib beside this file.
        return self.dataset_info_from_configs(
            features=common.example_features(self.builder_config.get_protocol()),
            homepage="http://mohammadmahoor.com/disfa/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        layout = DisfaLayout(dl_manager.manual_dir, self.builder_config.camera)
        splits = dict(zip(common.FOLD_SPLITS, common.DISFA_FOLDS))
        members = lib.assign_splits(layout.subjects(), splits, "disfa", str(layout.root),
                                    "DISFA_FOLDS")
        return {split: self._generate_examples(layout, subjects, split)
                for split, subjects in members.items()}

    def _generate_examples(self, layout: "DisfaLayout", subjects: List[str], split: str = ""):
        config = self.builder_config
        protocol = config.get_protocol()
        units = []
        for s in subjects:
            f = layout.files(s, protocol)
            # Arguments of tfau / tfau_datasets types only: a Beam worker imports this module as
            # tfau_datasets.disfa..., not under the name `tfds build` gave it.
            units.append((f"{s}/{layout.camera}", functools.partial(
                _subject_unit, s, f.labels, f.video, f.landmarks, f.root, layout.camera,
                protocol, config.redetect)))
        return self._run_units(split, units)


def _subject_unit(subject: str, labels: Dict[int, lib.Entry], video: lib.Entry,
                  landmarks: List[lib.Entry], root: str, camera: str,
                  protocol: aus_lib.Protocol, redetect: bool,
                  tally: lib.Tally) -> Iterator[Tuple[str, dict]]:
    """One subject's examples (a build unit: runs here or on a Beam worker)."""
    make_face = lib.FaceMaker("disfa66", tally, redetect=redetect)
    files = SubjectFiles(subject, labels, video, landmarks, root)
    yield from generate_files(files, camera, protocol, make_face, tally)


@dataclasses.dataclass
class SubjectFiles:
    """The files of one subject (plain files or members of the zips as shipped); picklable."""

    subject: str
    labels: Dict[int, lib.Entry]  # AU -> SN001_au1.txt
    video: Optional[lib.Entry]
    landmarks: List[lib.Entry]  # every *_lm.mat of the subject, any order
    root: str = ""


def _prefer(a: lib.Entry, b: lib.Entry, subject: str) -> lib.Entry:
    """Of two copies of one file: the unpacked one over a zip member, then the one whose name
    holds the subject (SN001_0000_lm.mat over a variant), then the first by path."""
    def rank(e):
        return (len(e.chain) > 1, lib.normalize(subject) not in lib.normalize(e.name), e.parts)
    return min(a, b, key=rank)


def _subject_of(entry: lib.Entry) -> Optional[str]:
    """SN001 from a folder (or nested zip) of the entry's path, else from its file name."""
    for part in entry.parts[:-1]:
        m = _SUBJECT.match(part)
        if m:
            return m.group(1).upper()
    m = _SUBJECT_IN_NAME.search(entry.name)
    return m.group(0).upper() if m else None


def _find_root(manual_dir: epath.Path, max_depth: int = 2) -> epath.Path:
    """The folder at most ``max_depth`` levels down holding ActionUnit_Labels(.zip)."""
    want = ("actionunitlabels", "actionunitlabelszip")
    level = [epath.Path(manual_dir)]
    for _ in range(max_depth + 1):
        for folder in level:
            if any(lib.normalize(c.name) in want for c in lib.list_dir(folder)):
                return folder
        level = [c for folder in level for c in lib.list_dir(folder) if c.is_dir()]
    raise FileNotFoundError(f"no DISFA copy under {manual_dir}: expected ActionUnit_Labels.zip "
                            f"or an ActionUnit_Labels folder (at most {max_depth} levels down)")


class DisfaLayout:
    """The files of a DISFA copy for one camera: zips as shipped, unpacked folders, or both
    (then the unpacked file is read)."""

    def __init__(self, manual_dir: epath.Path, camera: str = lib.LEFT):
        if camera not in (lib.LEFT, lib.RIGHT):
            raise ValueError(f"camera must be {lib.LEFT!r} or {lib.RIGHT!r}, got {camera!r}")
        self.camera = camera
        self.root = _find_root(manual_dir)
        self._labels: Dict[str, Dict[int, lib.Entry]] = {}
        self._videos: Dict[str, List[lib.Entry]] = {}
        self._landmarks: Dict[str, Dict[str, lib.Entry]] = {}
        for entry in lib.walk(self.root, max_depth=7):
            name = entry.name
            low = name.lower()
            m = _LABEL_FILE.match(name)
            if m:
                subject, au = _subject_of(entry), int(m.group(2))
                seen = self._labels.setdefault(subject, {})
                seen[au] = _prefer(seen[au], entry, subject) if au in seen else entry
            elif low.endswith(_VIDEO_EXT):
                norm = lib.normalize(name)
                subject = _subject_of(entry)
                if subject and camera in norm:
                    self._videos.setdefault(subject, []).append(entry)
            elif _LANDMARK_FILE.search(name):
                subject = _subject_of(entry)
                if subject:
                    by_name = self._landmarks.setdefault(subject, {})
                    key = name.lower()
                    by_name[key] = _prefer(by_name[key], entry, subject) if key in by_name \
                        else entry
        if not self._labels:
            raise FileNotFoundError(f"no DISFA label file (SN001_au1.txt) under {self.root}")

    @property
    def label_dir(self) -> epath.Path:
        return self.root

    def subjects(self) -> List[str]:
        return sorted(self._labels)

    def label_files(self, subject: str, aus) -> Dict[int, lib.Entry]:
        found = self._labels.get(subject, {})
        missing = [a for a in aus if a not in found]
        if missing:
            beside = next(iter(found.values()), None)
            where = (" > ".join(beside.chain[:-1] + (beside.chain[-1].rsplit("/", 1)[0],))
                     if beside else str(self.root))
            names = ", ".join(f"{subject}_au{a}.txt" for a in missing)
            raise FileNotFoundError(f"DISFA labels missing for {subject}: {names} (in {where})")
        return {a: found[a] for a in aus}

    def video(self, subject: str) -> lib.Entry:
        candidates = sorted(self._videos.get(subject, []),
                            key=lambda e: (len(e.chain) > 1, e.parts))
        if not candidates:
            example = ("Videos_LeftCamera/LeftVideo" if self.camera == lib.LEFT
                       else "Video_RightCamera/RightVideo") + f"{subject}_comp.avi"
            raise FileNotFoundError(f"no {self.camera}-camera video for {subject} under "
                                    f"{self.root} (expected e.g. {example})")
        names = {c.name.lower() for c in candidates}
        if len(names) > 1:
            logging.warning("several %s videos for %s: %s; using %s", self.camera, subject,
                            [str(c) for c in candidates], candidates[0])
        return candidates[0]

    def files(self, subject: str, protocol: Optional[aus_lib.Protocol] = None) -> SubjectFiles:
        aus = (protocol or aus_lib.get_protocol("disfa_intensity")).aus
        landmarks = (sorted(self._landmarks.get(subject, {}).values(), key=lambda e: e.parts)
                     if self.camera == lib.LEFT else [])
        return SubjectFiles(subject, self.label_files(subject, aus), self.video(subject),
                            landmarks, str(self.root))

    def landmark_files(self, subject: str, tally: lib.Tally,
                       n_frames: Optional[int] = None) -> Dict[int, lib.Entry]:
        """{label frame (1-based): landmark file}; see :func:`pair_landmarks`."""
        entries = sorted(self._landmarks.get(subject, {}).values(), key=lambda e: e.parts)
        if n_frames is None:
            n_frames = _video_frame_count(self.video(subject))
        return pair_landmarks(subject, entries, n_frames, tally)


def pair_landmarks(subject: str, entries: Sequence[lib.Entry], n_frames: int,
                   tally: lib.Tally) -> Dict[int, lib.Entry]:
    """{label frame (1-based): landmark file} for one subject, base decided from the numbers.

    Public readers disagree on the numbering: ME-GraphAU and the FERA-era scripts read
    ``SN001_0000_lm.mat`` as frame 1 (0-based files) but ``l0NNNN_lm.mat`` as frame NNNN (1-based,
    SN031, asserted over all frames), a viewer script reads them differently. So the numbers
    decide, per subject: a file numbered 0 means 0-based (file N is frame N + 1) as long as no
    number reaches ``n_frames``; no file 0 and the highest number equal to ``n_frames`` means
    1-based (file N is frame N). Anything else cannot be paired safely and raises ValueError
    naming the folder. The decision is logged and counted (``landmark_numbering_0_based`` /
    ``_1_based``).
    """
    numbered: Dict[int, lib.Entry] = {}
    for e in entries:
        number = int(_LANDMARK_FILE.search(e.name).group(1))
        if number in numbered:
            keep = _prefer(numbered[number], e, subject)
            drop = e if keep is numbered[number] else numbered[number]
            logging.warning("%s: two landmark files numbered %d: %s and %s; using %s", subject,
                            number, keep, drop, keep.name)
            tally.add("duplicate_landmark_files")
            numbered[number] = keep
        else:
            numbered[number] = e
    if not numbered:
        logging.warning("disfa %s: no landmark files; every frame is re-detected", subject)
        return {}
    lo, hi = min(numbered), max(numbered)
    folder = str(numbered[lo]).rsplit("/", 1)[0]
    if lo == 0 and hi <= n_frames - 1:
        offset, base = 1, "0-based (file N is frame N+1)"
    elif lo >= 1 and hi == n_frames:
        offset, base = 0, "1-based (file N is frame N)"
    else:
        raise ValueError(
            f"disfa {subject}: landmark files in {folder} are numbered {lo}..{hi} "
            f"({numbered[lo].name} .. {numbered[hi].name}, {len(numbered)} files) for a "
            f"{n_frames}-frame video: neither 0-based (a file 0, numbers below {n_frames}) nor "
            f"1-based (numbers up to exactly {n_frames}) fits, so files cannot be paired with "
            "frames; remove the stray files or complete the set")
    logging.info("disfa %s: %d landmark files numbered %d..%d for %d frames: %s", subject,
                 len(numbered), lo, hi, n_frames, base)
    tally.add(f"landmark_numbering_{base[:7].replace('-', '_')}")
    return {n + offset: e for n, e in numbered.items()}


def _video_frame_count(video) -> int:
    import cv2  # pylint: disable=g-import-not-at-top

    local, cleanup = video.local_file() if isinstance(video, lib.Entry) else \
        lib.local_copy(video)
    try:
        cap = cv2.VideoCapture(local)
        try:
            if not cap.isOpened():
                raise IOError(f"OpenCV cannot open video {video}")
            return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            cap.release()
    finally:
        if cleanup:
            cleanup()


def load_disfa_pts(path) -> Optional[np.ndarray]:
    """DISFA ``*_lm.mat``: variable ``pts`` (66 x 2, x then y, pixels). ``None`` when empty."""
    import scipy.io  # pylint: disable=g-import-not-at-top

    try:
        mat = scipy.io.loadmat(io.BytesIO(lib.read_bytes(path)))
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


def read_labels(layout, subject: str, protocol: aus_lib.Protocol,
                tally: lib.Tally) -> lib.FrameLabels:
    files = layout.label_files(subject, protocol.aus) if isinstance(layout, DisfaLayout) \
        else layout.labels
    per_au = {au: lib.parse_frame_values(files[au], _INTENSITIES) for au in protocol.aus}
    return lib.combine_per_au(per_au, protocol, tally, subject)


def generate_subject(layout: DisfaLayout, subject: str, protocol: aus_lib.Protocol,
                     make_face: lib.FaceMaker, tally: lib.Tally) -> Iterator[Tuple[str, dict]]:
    """Examples of one subject of ``layout`` (see :func:`generate_files`)."""
    yield from generate_files(layout.files(subject, protocol), layout.camera, protocol,
                              make_face, tally)


def generate_files(files: SubjectFiles, camera: str, protocol: aus_lib.Protocol,
                   make_face: lib.FaceMaker, tally: lib.Tally) -> Iterator[Tuple[str, dict]]:
    """Examples of one subject: video frame i (0-based) is label frame i + 1."""
    subject = files.subject
    labels = read_labels(files, subject, protocol, tally)
    video = files.video
    use_landmarks = camera == lib.LEFT
    local, cleanup = video.local_file()  # a zip member is extracted once, here
    try:
        landmark_files: Dict[int, lib.Entry] = {}
        if use_landmarks:
            n_frames = max(_video_frame_count(epath.Path(local)), max(labels.frames, default=0))
            landmark_files = pair_landmarks(subject, files.landmarks, n_frames, tally)
        tally.add("landmark_files_found", len(landmark_files))
        bad = [f for f in labels.frames if f < 1]
        if bad:
            tally.add("frames_dropped_bad_number", len(bad))
        wanted = {f - 1 for f in labels.frames if f >= 1}
        n_video = 0
        n_missing_landmarks = 0
        for index, rgb in lib.iter_video(
                epath.Path(local), wanted,
                on_bad_frame=lambda i: tally.add("undecodable_video_frames")):
            n_video = index + 1
            if rgb is None:
                continue
            frame = index + 1
            points = None
            if use_landmarks:
                path = landmark_files.get(frame)
                if path is None:
                    n_missing_landmarks += 1
                else:
                    points = load_disfa_pts(path)
                    if points is None:
                        tally.add("empty_landmark_files")
            face = make_face(rgb, points)
            if face is None:
                continue
            y, mask = labels[frame]
            tally.add("examples")
            yield (f"{subject}_{camera}_{frame:05d}",
                   lib.example(face[0], face[1], y, mask, subject, camera, frame))
    finally:
        if cleanup:
            cleanup()
    beyond = [f for f in labels.frames if f > n_video]
    extra = [f for f in landmark_files if f not in labels or f > n_video]
    unlabelled = n_video - len([f for f in labels.frames if 1 <= f <= n_video])
    if beyond or extra or unlabelled or n_missing_landmarks:
        logging.warning("disfa %s: video %s has %d frames, labels %d, landmark files %d: %d "
                        "labelled frames beyond the video, %d video frames unlabelled, %d landmark "
                        "files without a labelled frame, %d labelled frames without landmark file "
                        "(using the intersection of video and labels)", subject, video,
                        n_video, len(labels), len(landmark_files), len(beyond), unlabelled,
                        len(extra), n_missing_landmarks)
    tally.add("frames_labelled_beyond_video", len(beyond))
    tally.add("video_frames_unlabelled", unlabelled)
    tally.add("landmark_files_unused", len(extra))
    tally.add("landmark_files_missing", n_missing_landmarks)
