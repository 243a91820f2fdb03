"""What BP4D and BP4D+ share (BP4D+ imports it from here, as TFDS's imagenet variants import
``imagenet2012/imagenet_common.py``): the two layouts, the label readers, the builder config and
the per-sequence example generator.

Layouts read:

* Binghamton release: ``2D+3D/F001.zip`` (entries ``<top>/T1/0000.jpg``; an extracted
  ``2D+3D/F001/`` folder works too), ``2DFeatures/F001_T1.mat`` (MATLAB v7.3, ``fit/pred``),
  ``AUCoding/AU_OCC/F001_T1.csv``, ``AUCoding/AU_INT/AU06/F001_T1_AU06.csv``.
* FERA 2015 package: images ``BP4D-training/F001/T1/<frame>.jpg`` beside ``AUCoding`` or one
  folder deeper (``BP4D/BP4D/BP4D-training``), occurrence ``AUCoding/F001_T1.csv``, intensity
  ``AU Intensity Codes3.0`` / ``AU-Intensity-Codes3.0`` / ``BP4D-AUIntensityCodes3.0``
  ``/AU06/F001_T1_AU06.csv``. Its ``BP4D-fpoints`` landmarks are in a format no public reader
  documents: they are reported as found and not used (every face is re-detected).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import re
import zipfile
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from tfau import aus as aus_lib
from tfau_datasets.au_builder_lib import (FaceMaker, FrameLabels, Tally, _open_for_library,
                                          assign_splits, combine_per_au, decode_image, example,
                                          find_child, find_root, from_rows, list_dir, normalize,
                                          parse_frame_values, parse_occurrence_csv,
                                          zip_source)

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
            # Public FERA 2015 scripts show the images beside AUCoding
            # (BP4D/BP4D-training/F001/T1) or one folder deeper (BP4D/BP4D/BP4D-training):
            # the label folders are looked for at the image root and the folders above it, up
            # to the manual directory.
            self.image_dirs = [c for c in list_dir(self.root)
                               if c.is_dir() and normalize(c.name).startswith("bp4d")
                               and normalize(c.name) != "bp4dfpoints"]
            self.landmark_dir = None
            coding = self._near("AUCoding", "AU_Coding")
            self.occurrence_dir = coding and (find_child(coding, "AU_OCC", is_dir=True) or coding)
            # 'AU Intensity Codes3.0', 'AU-Intensity-Codes3.0', 'BP4D-AUIntensityCodes3.0'.
            self.intensity_dir = (self._near("AUIntensityCodes", "BP4DAUIntensityCodes",
                                             prefix=True)
                                  or (coding and find_child(coding, "AUIntensityCodes",
                                                            is_dir=True, prefix=True)))
            self.fpoints_dir = self._near("BP4D-fpoints", "fpoints")
        self._zips: Dict[str, zipfile.ZipFile] = {}

    fpoints_dir: Optional[epath.Path] = None

    def _near(self, *names: str, prefix: bool = False) -> Optional[epath.Path]:
        """A folder named ``names`` in the dataset root or a folder above it (inside the manual
        directory)."""
        folder, top = self.root, str(self.manual_dir).rstrip("/")
        while True:
            found = find_child(folder, *names, is_dir=True, prefix=prefix)
            if found is not None:
                return found
            if str(folder).rstrip("/") == top or folder.parent == folder:
                return None
            folder = folder.parent

    def __getstate__(self):  # picklable for Beam: open zips stay behind
        state = dict(self.__dict__)
        state["_zips"] = {}
        return state

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
                self._zips[subject] = zipfile.ZipFile(zip_source(archive))
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


def sequence_examples(layout: Bp4dLayout, subject: str, task: str,
                      read_labels: Callable[[Tally], FrameLabels], make_face: FaceMaker,
                      tally: Tally, images: Optional[Mapping[int, str]] = None
                      ) -> Iterator[Tuple[str, dict]]:
    """Examples of one sequence, frames sorted.

    A frame is kept when it has both an image and a label (intersection, mismatches logged);
    frames whose every AU is unknown carry no supervision and are skipped (counted).
    Landmark cell i of ``2DFeatures`` belongs to the i-th image of the task in frame order; when
    the counts differ the file is not trusted for that task (logged) and faces are re-detected.
    """
    where = f"{subject} {task}"
    labels = read_labels(tally)
    task_images = images if images is not None else layout.subject_images(subject).get(task, {})
    if not task_images:
        logging.warning("%s: labelled but no images; %d labelled frames skipped",
                        where, len(labels))
        tally.add("frames_labelled_without_image", len(labels))
        return
    if layout.fpoints_dir is not None:
        tally.add("sequences_fpoints_found_not_used")
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


def _task_order(task: str) -> int:
    return int(task[1:])


def bp4d_generate(layout: Bp4dLayout, subjects: Sequence[str],
                  labels_of: Mapping[Tuple[str, str], Callable[[Tally], FrameLabels]],
                  make_face: FaceMaker, tally: Tally) -> Iterator[Tuple[str, dict]]:
    """Examples of ``subjects`` (sorted), their labelled tasks (sorted) and frames (sorted), in
    this process (the builders run :func:`bp4d_units` instead, one unit per sequence)."""
    tasks_of = collections.defaultdict(list)
    for s, t in labels_of:
        tasks_of[s].append(t)
    try:
        for subject in subjects:
            images = layout.subject_images(subject)
            for task in sorted(tasks_of[subject], key=_task_order):
                yield from sequence_examples(layout, subject, task, labels_of[(subject, task)],
                                             make_face, tally, images.get(task, {}))
    finally:
        layout.close()
        tally.log()


def _sequence_unit(layout: Bp4dLayout, subject: str, task: str,
                   read_labels: Callable[[Tally], FrameLabels], redetect: bool,
                   tally: Tally) -> Iterator[Tuple[str, dict]]:
    make_face = FaceMaker("bp4d49", tally, redetect=redetect)
    yield from sequence_examples(layout, subject, task, read_labels, make_face, tally)


def bp4d_units(plan: "Bp4dPlan", subjects: Sequence[str], config: "Bp4dConfig") -> list:
    """Build units (``build_lib.Unit``), one per labelled sequence of ``subjects``."""
    units = []
    for subject in subjects:
        tasks = sorted((t for s, t in plan.labels_of if s == subject), key=_task_order)
        for task in tasks:
            units.append((f"{subject}/{task}", functools.partial(
                _sequence_unit, plan.layout, subject, task, plan.labels_of[(subject, task)],
                config.redetect)))
    return units


_INTENSITY_CODES = (0, 1, 2, 3, 4, 5, 9)


def _occurrence_labels(path: epath.Path, protocol: aus_lib.Protocol, missing_code: Optional[int],
                       positional: Optional[Sequence[int]], tally: Tally) -> FrameLabels:
    return from_rows(parse_occurrence_csv(path, protocol.aus, missing_code=missing_code,
                                          positional=positional, tally=tally), protocol)


def _intensity_labels(files: Mapping[int, epath.Path], protocol: aus_lib.Protocol, where: str,
                      tally: Tally) -> FrameLabels:
    per_au = {au: parse_frame_values(files[au], _INTENSITY_CODES) for au in protocol.aus}
    return combine_per_au(per_au, protocol, tally, where)


def bp4d_label_readers(layout: Bp4dLayout, protocol: aus_lib.Protocol,
                       positional: Optional[Sequence[int]] = None
                       ) -> Dict[Tuple[str, str], Callable[[Tally], FrameLabels]]:
    """{(subject, task): reader(tally) -> FrameLabels} for every labelled sequence on disk.

    ``positional``: the AU of each occurrence column after the frame column, for the fallback
    to reading by position (``parse_occurrence_csv``)."""
    if protocol.task == aus_lib.OCCURRENCE:
        # FERA 2015 coded 11 of BP4D's 12 occurrence AUs (not AU24): a column missing from the
        # FERA package's files is masked (logged); in the Binghamton release it is an error.
        missing_code = protocol.unknown_label if layout.layout == FERA2015 else None
        return {seq: functools.partial(_occurrence_labels, path, protocol, missing_code,
                                       positional)
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
      occurrence_columns: the AUs of the occurrence CSV's columns after the frame column, in
        file order; when a header does not name the AUs expected but has exactly this many
        columns + 1, columns are read by position (logged). Empty: by header name only.
    """

    protocol: str = "bp4d_occurrence"
    layout: str = "auto"
    redetect: bool = True
    occurrence_columns: Tuple[int, ...] = ()

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
        if layout.fpoints_dir is not None:
            logging.warning("%s: found %s: the format of the FERA 2015 landmark files is not "
                            "public and is not recognised with confidence here, so they are "
                            "not used; every face is re-detected with dlib", dataset,
                            layout.fpoints_dir)
        labels_of = bp4d_label_readers(layout, config.get_protocol(),
                                       config.occurrence_columns or None)
        labelled = bp4d_subjects_on_disk(layout, labels_of)
        image_only = sorted(set(layout.image_subjects()) - set(labelled))
        if image_only:
            logging.info("%s: subjects with images but no labels (ignored): %s", dataset,
                         " ".join(image_only))
        members = assign_splits(sorted(set(labelled) | set(image_only)), splits, dataset,
                                str(layout.root), list_name)
        members = {k: [s for s in v if s in labelled] for k, v in members.items()}
        return cls(layout, labels_of, {k: v for k, v in members.items() if v})


