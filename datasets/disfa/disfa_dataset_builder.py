"""DISFA (Mavadati et al. 2013): 27 subjects, left/right camera videos, 12 AU intensities 0-5.

Splits ``fold1``..``fold3`` are the subject-exclusive parts of ``common.DISFA_FOLDS``; fold K
tests on ``foldK`` and trains on the other two (``common.train_test_splits``).
"""
from __future__ import annotations

import dataclasses
import io
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from tfau import aus as aus_lib
from tfau_datasets import au_builder_lib as lib
from tfau_datasets import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
DISFA is licensed: request it at http://mohammadmahoor.com/disfa/ and place (or link) the
folders you received in the manual directory (default ~/tensorflow_datasets/downloads/manual/,
or pass --manual_dir), the dataset root at most two folder levels down:

  <manual_dir>/Videos_LeftCamera/LeftVideoSN001_comp.avi ...
  <manual_dir>/Video_RightCamera/RightVideoSN001_Comp.avi ...   (right-camera configs only)
  <manual_dir>/ActionUnit_Labels/SN001/SN001_au1.txt ...
  <manual_dir>/Landmark_Points/SN001/tmp_frame_lm/SN001_0000_lm.mat ...

Names are matched case-insensitively; a subset of the 27 subjects is fine.
"""

_CITATION = """\
@article{mavadati2013disfa,
  title={{DISFA}: A Spontaneous Facial Action Intensity Database},
  author={Mavadati, S. Mohammad and Mahoor, Mohammad H. and Bartlett, Kevin and Trinh, Philip
          and Cohn, Jeffrey F.},
  journal={IEEE Transactions on Affective Computing},
  volume={4}, number={2}, pages={151--160}, year={2013}
}
"""

_SUBJECT = re.compile(r"^SN\d{3}$", re.IGNORECASE)
_LABEL_FILE = re.compile(r"_au0*(\d+)\.txt$", re.IGNORECASE)
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


class Builder(tfds.core.GeneratorBasedBuilder):
    """DISFA aligned faces with AU intensity or occurrence labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = _configs()

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=common.example_features(self.builder_config.get_protocol()),
            homepage="http://mohammadmahoor.com/disfa/",
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        layout = DisfaLayout(dl_manager.manual_dir, self.builder_config.camera)
        splits = dict(zip(common.FOLD_SPLITS, common.DISFA_FOLDS))
        members = lib.assign_splits(layout.subjects(), splits, "disfa", str(layout.label_dir),
                                    "DISFA_FOLDS")
        return {split: self._generate_examples(layout, subjects, split)
                for split, subjects in members.items()}

    def _generate_examples(self, layout: "DisfaLayout", subjects: List[str], split: str = ""):
        config = self.builder_config
        tally = lib.Tally(f"disfa/{config.name} {split}")
        make_face = lib.FaceMaker("disfa66", tally, redetect=config.redetect)
        try:
            for subject in subjects:
                yield from generate_subject(layout, subject, config.get_protocol(), make_face,
                                            tally)
        finally:
            tally.log()


class DisfaLayout:
    """The files of a DISFA copy for one camera."""

    def __init__(self, manual_dir: epath.Path, camera: str = lib.LEFT):
        if camera not in (lib.LEFT, lib.RIGHT):
            raise ValueError(f"camera must be {lib.LEFT!r} or {lib.RIGHT!r}, got {camera!r}")
        self.camera = camera
        self.root, _ = lib.find_root(manual_dir, [("ActionUnit_Labels", "ActionUnitLabels")])
        self.label_dir = lib.find_child(self.root, "ActionUnit_Labels", "ActionUnitLabels",
                                        is_dir=True)
        self.landmark_dir = lib.find_child(self.root, "Landmark_Points", "LandmarkPoints",
                                           "Landmarks", is_dir=True)
        self.video_dirs = [self.root] + [
            d for d in lib.list_dir(self.root)
            if d.is_dir() and any(w in lib.normalize(d.name) for w in ("video", "camera"))
        ]

    def subjects(self) -> List[str]:
        return sorted(d.name.upper() for d in lib.list_dir(self.label_dir)
                      if d.is_dir() and _SUBJECT.match(d.name))

    def label_files(self, subject: str, aus) -> Dict[int, epath.Path]:
        folder = lib.find_child(self.label_dir, subject, is_dir=True)
        found = {}
        for f in lib.list_dir(folder):
            m = _LABEL_FILE.search(f.name)
            if m and f.is_file():
                found.setdefault(int(m.group(1)), f)
        missing = [a for a in aus if a not in found]
        if missing:
            names = ", ".join(str(folder / f"{subject}_au{a}.txt") for a in missing)
            raise FileNotFoundError(f"DISFA labels missing for {subject}: {names}")
        return {a: found[a] for a in aus}

    def video(self, subject: str) -> epath.Path:
        key = lib.normalize(subject)
        candidates = []
        for d in self.video_dirs:
            for f in lib.list_dir(d):
                name = lib.normalize(f.stem)
                if (f.suffix.lower() in _VIDEO_EXT and key in name and self.camera in name
                        and f.is_file()):
                    candidates.append(f)
        if not candidates:
            example = ("Videos_LeftCamera/LeftVideo" if self.camera == lib.LEFT
                       else "Video_RightCamera/RightVideo") + f"{subject}_comp.avi"
            raise FileNotFoundError(f"no {self.camera}-camera video for {subject} under "
                                    f"{self.root} (expected e.g. {example})")
        if len(candidates) > 1:
            logging.warning("several %s videos for %s: %s; using %s", self.camera, subject,
                            [c.name for c in candidates], candidates[0].name)
        return candidates[0]

    def landmark_files(self, subject: str, tally: lib.Tally) -> Dict[int, epath.Path]:
        """{label frame (1-based): landmark file}; file index N (0-based) is label frame N + 1."""
        folder = self.landmark_dir and lib.find_child(self.landmark_dir, subject, is_dir=True)
        if folder is None:
            logging.warning("no landmark folder for %s under %s", subject, self.root)
            return {}
        out: Dict[int, epath.Path] = {}
        for f in lib.files_under(folder, depth=2):
            m = _LANDMARK_FILE.search(f.name)
            if not m:
                continue
            frame = int(m.group(1)) + 1
            if frame in out:
                # Prefer the file named after the subject (SN001_0000_lm.mat) over a variant.
                keep, drop = out[frame], f
                if lib.normalize(subject) in lib.normalize(f.name) and \
                        lib.normalize(subject) not in lib.normalize(keep.name):
                    keep, drop = f, keep
                logging.warning("%s: two landmark files for frame %d: %s and %s; using %s",
                                subject, frame, keep, drop, keep.name)
                tally.add("duplicate_landmark_files")
                out[frame] = keep
            else:
                out[frame] = f
        return out


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


def read_labels(layout: DisfaLayout, subject: str, protocol: aus_lib.Protocol,
                tally: lib.Tally) -> lib.FrameLabels:
    files = layout.label_files(subject, protocol.aus)
    per_au = {au: lib.parse_frame_values(path, _INTENSITIES) for au, path in files.items()}
    return lib.combine_per_au(per_au, protocol, tally, subject)


def generate_subject(layout: DisfaLayout, subject: str, protocol: aus_lib.Protocol,
                     make_face: lib.FaceMaker, tally: lib.Tally) -> Iterator[Tuple[str, dict]]:
    """Examples of one subject: video frame i (0-based) is label frame i + 1."""
    labels = read_labels(layout, subject, protocol, tally)
    video = layout.video(subject)
    use_landmarks = layout.camera == lib.LEFT
    landmark_files = layout.landmark_files(subject, tally) if use_landmarks else {}
    bad = [f for f in labels.frames if f < 1]
    if bad:
        tally.add("frames_dropped_bad_number", len(bad))
    wanted = {f - 1 for f in labels.frames if f >= 1}
    n_video = 0
    n_missing_landmarks = 0
    for index, rgb in lib.iter_video(video, wanted):
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
        yield (f"{subject}_{layout.camera}_{frame:05d}",
               lib.example(face[0], face[1], y, mask, subject, layout.camera, frame))
    beyond = [f for f in labels.frames if f > n_video]
    extra = [f for f in landmark_files if f not in labels or f > n_video]
    unlabelled = n_video - len([f for f in labels.frames if 1 <= f <= n_video])
    if beyond or extra or unlabelled or n_missing_landmarks:
        logging.warning("disfa %s: video %s has %d frames, labels %d, landmark files %d: %d "
                        "labelled frames beyond the video, %d video frames unlabelled, %d landmark "
                        "files without a labelled frame, %d labelled frames without landmark file "
                        "(using the intersection of video and labels)", subject, video.name,
                        n_video, len(labels), len(landmark_files), len(beyond), unlabelled,
                        len(extra), n_missing_landmarks)
    tally.add("frames_labelled_beyond_video", len(beyond))
    tally.add("video_frames_unlabelled", unlabelled)
    tally.add("landmark_files_unused", len(extra))
    tally.add("landmark_files_missing", n_missing_landmarks)
