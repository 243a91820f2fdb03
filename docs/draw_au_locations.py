"""Draws tfau's AU locations on an aligned face: ``python docs/draw_au_locations.py [out.png]``.

Panels: the heatmap points of ``bp4d_intensity`` and ``disfa_intensity`` (SCC-Heatmap / G2RL),
the heatmap points of the remaining synthetic-set AUs, and ROI-GCN's two centres per AU. Points
are computed from the landmarks of the face shown, exactly as the data pipeline does. The face
is scikit-image's astronaut, landmarked with dlib's 68-point predictor and aligned onto
``TEMPLATE_ANCHORS`` with a similarity transform; without dlib (or if it finds no face) the
template itself is drawn as a line face. Points at the same place share one marker and a joined
label (e.g. ROI "12/14/15/20").
"""
from __future__ import annotations

import os
import sys
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from tfau import aus as aus_lib
from tfau import geometry

PANEL = 512  # drawn at 2x the aligned 256 frame
TITLE = 36
_ZOOM = PANEL / geometry.TEMPLATE_SIZE
_COLOURS = [  # RGB, saturated so they stand out from skin and the grey line face
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0)]
_LINE_GROUPS = [range(0, 17), range(17, 22), range(22, 27), range(27, 31), range(31, 36),
                list(range(36, 42)) + [36], list(range(42, 48)) + [42],
                list(range(48, 60)) + [48], list(range(60, 68)) + [60]]


def aligned_face() -> Tuple[np.ndarray, np.ndarray, str]:
    """(256x256x3 uint8 RGB, landmarks [68, 2], source) - the astronaut aligned with dlib."""
    import dlib  # pylint: disable=import-outside-toplevel
    from skimage import data  # pylint: disable=import-outside-toplevel

    path = geometry.dlib_model_path()
    if path is None:
        raise RuntimeError("face_recognition_models' 68-point model not found")
    image = data.astronaut()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = dlib.get_frontal_face_detector()(gray, 1)
    if not boxes:
        raise RuntimeError("dlib found no face in the astronaut image")
    shape = dlib.shape_predictor(path)(gray, boxes[0])
    lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(geometry.alignment_anchors(lm),
                                            geometry.TEMPLATE_ANCHORS)
    size = geometry.TEMPLATE_SIZE
    face = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    lm_aligned = lm @ matrix[:, :2].T + matrix[:, 2]
    return face, lm_aligned.astype(np.float32), "astronaut (dlib-aligned)"


def line_face(landmarks=geometry.TEMPLATE_68) -> np.ndarray:
    """The template as a grey line drawing (256x256x3 uint8 RGB)."""
    size = geometry.TEMPLATE_SIZE
    img = np.full((size, size, 3), 245, np.uint8)
    for group in _LINE_GROUPS:
        pts = np.round(np.asarray(landmarks)[list(group)]).astype(np.int32)
        cv2.polylines(img, [pts], False, (150, 150, 150), 1, cv2.LINE_AA)
    return img


def _groups(points: np.ndarray, labels: List[str], tol: float = 2.0):
    """Merges points closer than ``tol`` px: [(xy, 'a/b')]."""
    merged: List[Tuple[np.ndarray, List[str]]] = []
    for p, label in zip(points, labels):
        for q, names in merged:
            if np.linalg.norm(p - q) < tol:
                if label not in names:
                    names.append(label)
                break
        else:
            merged.append((p, [label]))
    return [(p, "/".join(names)) for p, names in merged]


def _panel(face: np.ndarray, landmarks: np.ndarray, points: np.ndarray, point_aus: List[int],
           title: str, origin: Tuple[int, int], markers: List[Dict]) -> np.ndarray:
    img = cv2.resize(face, (PANEL, PANEL), interpolation=cv2.INTER_CUBIC)
    for x, y in landmarks * _ZOOM:
        cv2.circle(img, (int(round(x)), int(round(y))), 1, (200, 200, 200), -1)
    groups = _groups(points, [str(a) for a in point_aus])
    synthetic = list(aus_lib.SYNTHETIC_AUS)
    placed = []
    for p, label in groups:  # labels first, markers on top
        x, y = int(round(p[0] * _ZOOM)), int(round(p[1] * _ZOOM))
        first = int(label.split("/")[0])
        colour = _COLOURS[synthetic.index(first) % len(_COLOURS)]
        # labels point outward (left of left-side points), midline labels to the right
        width = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
        tx = x - 8 - width if x < PANEL // 2 - 12 else x + 8
        for thick, col in ((3, (0, 0, 0)), (1, (255, 255, 255))):
            cv2.putText(img, label, (tx, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, col, thick,
                        cv2.LINE_AA)
        placed.append((x, y, colour, label))
    for x, y, colour, label in placed:
        cv2.circle(img, (x, y), 5, (0, 0, 0), -1)
        cv2.circle(img, (x, y), 4, colour, -1)
        if 0 <= x < PANEL and 0 <= y < PANEL:
            markers.append({"panel": title, "x": x + origin[0], "y": y + origin[1] + TITLE,
                            "rgb": colour, "label": label})
    bar = np.full((TITLE, PANEL, 3), 255, np.uint8)
    cv2.putText(bar, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def draw(path: str, use_dlib: bool = True) -> Dict:
    """Renders the 2x2 panel figure to ``path`` (PNG). Returns ``{"source", "markers"}``, each
    marker ``{"panel", "x", "y", "rgb", "label"}`` in pixels of the written image."""
    face = landmarks = None
    source = "template line face"
    if use_dlib:
        try:
            face, landmarks, source = aligned_face()
        except (ImportError, RuntimeError) as err:
            print(f"dlib alignment unavailable ({err}); drawing the template", file=sys.stderr)
    if face is None:
        landmarks = geometry.TEMPLATE_68
        face = line_face(landmarks)

    def heat(name_or_aus):
        spec = geometry.heatmap_spec(name_or_aus)
        return geometry.heatmap_points(landmarks, spec), [spec.aus[i] for i in spec.point_au]

    shown = set(aus_lib.BP4D_INTENSITY_AUS) | set(aus_lib.DISFA_INTENSITY_AUS)
    extras = [a for a in aus_lib.SYNTHETIC_AUS if a not in shown]
    roi = geometry.roi_spec(sorted(geometry.ROI_RULES))
    roi_points = geometry.roi_points(landmarks, roi)
    roi_aus = [a for a in roi.aus for _ in range(2)]
    panels = [
        (*heat("bp4d_intensity"), "bp4d_intensity heatmap points (10)"),
        (*heat("disfa_intensity"), "disfa_intensity heatmap points (24)"),
        (*heat(extras), "other synthetic AUs: heatmap points"),
        (roi_points, roi_aus, "ROI-GCN centres (two per AU)"),
    ]
    markers: List[Dict] = []
    tiles = []
    for k, (points, point_aus, title) in enumerate(panels):
        origin = ((k % 2) * PANEL, (k // 2) * (PANEL + TITLE))
        tiles.append(_panel(face, landmarks, points, point_aus, title, origin, markers))
    figure = np.concatenate([np.concatenate(tiles[0:2], axis=1),
                             np.concatenate(tiles[2:4], axis=1)], axis=0)
    if not cv2.imwrite(path, cv2.cvtColor(figure, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return {"source": source, "markers": markers}


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "au_locations.png")
    info = draw(out)
    print(f"wrote {out} ({info['source']}, {len(info['markers'])} markers)")


if __name__ == "__main__":
    main()
