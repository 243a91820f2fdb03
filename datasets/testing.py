"""Test helpers of the dataset builders: dummy faces for the make_dummy_data.py scripts, a fake
face aligner (cartoon faces are not dlib faces), and reading a builder's examples without TFDS.

Not used by any builder: a build never imports this module.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from etils import epath


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


# --------------------------------------------------------------------------------------------
# Fake licensed trees, laid out as the owners ship them (issue 14), written independently of the
# builders' make_dummy_data.py scripts: the layouts come from the public readers' descriptions.
# Label formulas: DISFA intensity (f + a + s) % 6, BP4D occurrence (f + a + s) % 3 == 0,
# BP4D intensity (f + a + 2 s) % 6, where s = subject number, f = frame (1-based), a = AU.
# --------------------------------------------------------------------------------------------

FAKE_FRAME = (160, 120)  # (width, height) of fake video frames and images


def fake_landmarks(subject: str, frame: int, frame_size=FAKE_FRAME) -> np.ndarray:
    """68 points of the face drawn in ``frame`` (1-based): the face jumps 14 px sideways from
    frame to frame, so landmarks paired one frame off put the aligned face visibly off-centre."""
    pts = dummy_face_landmarks(frame_size, seed=int(subject[-3:]))
    shift = 14.0 * (((frame - 1) % 3) - 1)
    return (pts + np.array([shift, 0.0], np.float32)).astype(np.float32)


def _avi(frames) -> bytes:
    import cv2  # pylint: disable=g-import-not-at-top
    import tempfile  # pylint: disable=g-import-not-at-top

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/v.avi"
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
        for rgb in frames:
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        return epath.Path(path).read_bytes()


def _mat(pts) -> bytes:
    import io  # pylint: disable=g-import-not-at-top
    import scipy.io  # pylint: disable=g-import-not-at-top

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"pts": np.asarray(pts, np.float64)})
    return buf.getvalue()


def _zip_bytes(members: Dict[str, bytes]) -> bytes:
    import io  # pylint: disable=g-import-not-at-top
    import zipfile  # pylint: disable=g-import-not-at-top

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _write(root, members: Dict[str, bytes], as_zip: Optional[str]) -> None:
    """``members`` as files under ``root`` or, with ``as_zip``, as one zip ``root/as_zip``."""
    root = epath.Path(root)
    if as_zip:
        root.mkdir(parents=True, exist_ok=True)
        (root / as_zip).write_bytes(_zip_bytes(members))
        return
    for name, data in members.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def disfa_label(subject: str, au: int, frame: int) -> int:
    return (frame + au + int(subject[2:])) % 6


def write_fake_disfa(root, subjects: Dict[str, dict], zipped: bool = True,
                     frame_size: Tuple[int, int] = FAKE_FRAME) -> epath.Path:
    """A DISFA copy as shipped (``zipped``: the four zips) or unpacked in place.

    ``subjects``: {"SN001": {"frames": 6, "numbering": "subject0" | "l0_1based" | "l0_0based",
    "skip": [file numbers not written], "nested": bool (the subject's landmarks in a nested
    SN001.zip inside Landmark_Points.zip)}}. Labels cover every frame, AUs of DISFA's 12.
    ``frame_size``: (width, height) of the videos (DISFA's are 1024 x 768).
    """
    from tfau import aus, geometry  # pylint: disable=g-import-not-at-top

    root = epath.Path(root)
    labels, left, right, marks = {}, {}, {}, {}
    for subject, spec in subjects.items():
        n = spec["frames"]
        for au in aus.DISFA_INTENSITY_AUS:
            labels[f"{subject}/{subject}_au{au}.txt"] = "".join(
                f"{f},{disfa_label(subject, au, f)}\n" for f in range(1, n + 1)).encode()
        frames = [draw_dummy_face(frame_size, fake_landmarks(subject, f, frame_size))
                  for f in range(1, n + 1)]
        left[f"LeftVideo{subject}_comp.avi"] = _avi(frames)
        right[f"RightVideo{subject}_Comp.avi"] = _avi(frames)
        numbering = spec.get("numbering", "subject0")
        one_based = numbering == "l0_1based"
        nested: Dict[str, bytes] = {}
        for f in range(1, n + 1):
            number = f if one_based else f - 1
            if number in spec.get("skip", ()):
                continue
            name = (f"{subject}_{number:04d}_lm.mat" if numbering == "subject0"
                    else f"l0{number:04d}_lm.mat")
            pts = fake_landmarks(subject, f, frame_size)[geometry.DISFA66_TO_68]
            nested[f"{subject}/tmp_frame_lm/{name}"] = _mat(pts)
        if spec.get("nested"):
            marks[f"{subject}.zip"] = _zip_bytes(nested)
        else:
            marks.update(nested)
    _write(root / ("" if zipped else "ActionUnit_Labels"), labels,
           "ActionUnit_Labels.zip" if zipped else None)
    _write(root / ("" if zipped else "Videos_LeftCamera"), left,
           "Videos_LeftCamera.zip" if zipped else None)
    _write(root / ("" if zipped else "Video_RightCamera"), right,
           "Video_RightCamera.zip" if zipped else None)
    if zipped:
        _write(root, marks, "Landmark_Points.zip")
    else:  # unpacked: a nested SN001.zip stays a zip inside the folder
        _write(root / "Landmark_Points", marks, None)
    return root


def bp4d_occurrence(subject: str, au: int, frame: int) -> int:
    return int((frame + au + int(subject[1:])) % 3 == 0)


def bp4d_intensity(subject: str, au: int, frame: int) -> int:
    return (frame + au + 2 * int(subject[1:])) % 6


def _jpeg(subject: str, frame: int) -> bytes:
    import cv2  # pylint: disable=g-import-not-at-top

    size = (FAKE_FRAME[1], FAKE_FRAME[0])  # portrait, as BP4D
    rgb = draw_dummy_face(size, fake_landmarks(subject, frame, size))
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


FERA_OCC_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23)  # FERA 2015 coded no AU24
FERA_INT_AUS = (6, 10, 12, 14, 17)


def write_fake_fera(root, sequences: Dict[Tuple[str, str], int], deeper: bool = False,
                    intensity_folder: str = "AU Intensity Codes3.0",
                    fpoints: bool = True) -> epath.Path:
    """BP4D's FERA 2015 package: ``BP4D/BP4D-training/F001/T1/0001.jpg`` beside
    ``BP4D/AUCoding`` (or, ``deeper``, ``BP4D/BP4D/BP4D-training``), occurrence
    ``AUCoding/F001_T1.csv`` (header ``0,1,2,...``), intensity ``<intensity_folder>/AU06/
    F001_T1_AU06.csv`` (``frame,value``), ``BP4D-fpoints`` (an unrecognised format).
    ``sequences``: {(subject, task): frames}."""
    top = epath.Path(root) / "BP4D"
    images = (top / "BP4D" if deeper else top) / "BP4D-training"
    files: Dict[str, bytes] = {}
    for (subject, task), n in sequences.items():
        for f in range(1, n + 1):
            (images / subject / task).mkdir(parents=True, exist_ok=True)
            (images / subject / task / f"{f:04d}.jpg").write_bytes(_jpeg(subject, f))
        rows = ["0," + ",".join(str(a) for a in FERA_OCC_AUS)]
        rows += [f"{f}," + ",".join(str(bp4d_occurrence(subject, a, f)) for a in FERA_OCC_AUS)
                 for f in range(1, n + 1)]
        files[f"AUCoding/{subject}_{task}.csv"] = ("\n".join(rows) + "\n").encode()
        for a in FERA_INT_AUS:
            files[f"{intensity_folder}/AU{a:02d}/{subject}_{task}_AU{a:02d}.csv"] = "".join(
                f"{f},{bp4d_intensity(subject, a, f)}\n" for f in range(1, n + 1)).encode()
        if fpoints:
            files[f"BP4D-fpoints/{subject}/{task}/0001.fp"] = b"\x00\x01 opaque"
    _write(top, files, None)
    return epath.Path(root)


def write_fake_bp4d_plus(root, sequences: Dict[Tuple[str, str], int], columns: Sequence[int],
                         header: Optional[str] = "Frame," + ",".join(f"c{i}" for i in range(34))
                         ) -> epath.Path:
    """BP4D+ (Binghamton): ``2D+3D/F001.zip`` (``F001/T1/0001.jpg``), ``AUCoding/AU_OCC/
    F001_T1.csv`` whose header (``header``; ``None``: no header row) does not name the AUs,
    columns = frame then ``columns`` in order, as the public readers index them. No
    2DFeatures: faces are re-detected."""
    root = epath.Path(root)
    per_subject: Dict[str, Dict[str, bytes]] = {}
    for (subject, task), n in sequences.items():
        for f in range(1, n + 1):
            per_subject.setdefault(subject, {})[f"{subject}/{task}/{f:04d}.jpg"] = _jpeg(subject, f)
        rows = [] if header is None else [header]
        rows += [f"{f}," + ",".join(str(bp4d_occurrence(subject, a, f)) for a in columns)
                 for f in range(1, n + 1)]
        _write(root / "AUCoding" / "AU_OCC", {f"{subject}_{task}.csv":
                                              ("\n".join(rows) + "\n").encode()}, None)
    for subject, members in per_subject.items():
        _write(root / "2D+3D", members, f"{subject}.zip")
    return root
