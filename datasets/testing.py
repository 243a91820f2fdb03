"""Test helpers of the dataset builders: dummy faces for the make_dummy_data.py scripts, a fake
face aligner (cartoon faces are not dlib faces), and reading a builder's examples without TFDS.

Not used by any builder: a build never imports this module.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

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
