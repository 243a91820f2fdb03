"""Landmark geometry as data: the 68-point template, scheme conversions, flips, AU locations.

Pure NumPy (no TensorFlow), so dataset builders and ``tfau.face`` can use it cheaply. The TF
versions of the point computations live in :mod:`tfau.targets`.

Coordinate convention (the whole package): landmarks are ``(x, y)`` in pixels of the aligned
256x256 image, with the centre of pixel ``(row i, column j)`` at ``(x=j, y=i)`` (the dlib and
OpenCV convention). The image therefore spans ``-0.5 .. 255.5`` and its centre is ``127.5``;
a horizontal flip maps ``x -> (width - 1) - x``.

Point tables are stored as linear maps over the 68 landmarks: every derived point (heatmap
centre, ROI centre, alignment anchor) is ``weights @ landmarks + offset * s`` with ``weights`` a
row of averaging weights (one landmark, a midpoint, a centroid), ``offset`` a ``(dx, dy)`` in
units of the inner-eye distance ``s = |x39 - x42|`` (positive dy = downward). One matrix product
then gives all points of a batch, in NumPy here and in TensorFlow in ``tfau.targets``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

N_LANDMARKS = 68

# ---------------------------------------------------------------------------------------------
# Horizontal flip. After mirroring the x coordinates, index i of the flipped face holds what was
# index FLIP_PERMUTATION[i], so that e.g. 36 is again the outer corner of the eye on the image's
# left. It is an involution (FLIP_PERMUTATION[FLIP_PERMUTATION] == arange(68)).
FLIP_PERMUTATION = np.array(
    list(range(16, -1, -1))  # jaw 0 <-> 16 ... 7 <-> 9, 8 fixed
    + list(range(26, 16, -1))  # brows 17 <-> 26 ... 21 <-> 22
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils 31 <-> 35, 32 <-> 34
    + [45, 44, 43, 42, 47, 46]  # eye 36-41 <-> 42-47
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48]  # outer lip 48 <-> 54 ...
    + [59, 58, 57, 56, 55]  # 55 <-> 59, 56 <-> 58
    + [64, 63, 62, 61, 60]  # inner lip 60 <-> 64, 61 <-> 63
    + [67, 66, 65],  # 65 <-> 67
    dtype=np.int32)

# ---------------------------------------------------------------------------------------------
# Landmark schemes. Index arrays give, for each source point i, its index in the 68 scheme.
# DISFA: 66 points = 68 without the inner-mouth corners 60 and 64.
DISFA66_TO_68 = np.array(list(range(60)) + [61, 62, 63, 65, 66, 67], dtype=np.int32)
# BP4D / BP4D+ (2DFeatures): 49 points = 68 without the jaw 0-16 and without 60, 64.
BP4D49_TO_68 = np.array([i + 17 for i in range(43)] + [61, 62, 63, 65, 66, 67], dtype=np.int32)
SCHEMES = {"dlib68": np.arange(N_LANDMARKS, dtype=np.int32), "disfa66": DISFA66_TO_68,
           "bp4d49": BP4D49_TO_68}
# Landmarks every source provides (dlib 68, DISFA 66, BP4D 49): 17-59, 61-63, 65-67. The AU
# tables below use only these, so no AU location depends on a filled-in (template) point.
COMMON_LANDMARKS = np.array(sorted(set(BP4D49_TO_68.tolist())), dtype=np.int32)

# ---------------------------------------------------------------------------------------------
# TEMPLATE_68: mean face in the 256x256 aligned frame, float32 [68, 2] (x, y).
# How it was made (reproduced by `_derive_template()` and checked by geometry_test.py): the mean
# shape that dlib's 68-point predictor starts its regression cascade from (`initial_shape`, the
# mean of its iBUG 300-W training shapes in detection-box units, read from
# shape_predictor_68_face_landmarks.dat), made exactly left/right symmetric (levelled by the
# mean left->right pair vector, then averaged with its mirror image permuted by
# FLIP_PERMUTATION), scaled by 210 px per box unit, centred horizontally at x = 127.5 and shifted
# so the chin (8) sits at y = 232. That puts the jaw at x 28.7..226.3, the brows at y >= 41.5
# and leaves room above the brows for the forehead AU locations (AU1/AU2 at y ~ 26-30). Rounded to
# 0.01 px. (We used dlib's mean shape instead of landmarks of one photograph because one face
# carries its expression, e.g. scikit-image's astronaut smiles with parted lips.)
TEMPLATE_68 = np.array([
    [28.68, 74.97], [29.35, 101.11], [32.15, 127.15], [37.57, 152.69],  # 0-3 jaw
    [47.76, 176.40], [63.39, 196.97], [82.52, 214.13], [103.62, 227.91],  # 4-7
    [127.50, 232.00], [151.38, 227.91], [172.48, 214.13], [191.61, 196.97],  # 8-11
    [207.24, 176.40], [217.43, 152.69], [222.85, 127.15], [225.65, 101.11],  # 12-15
    [226.32, 74.97], [47.52, 55.85], [59.77, 44.82], [77.06, 41.54],  # 16 jaw, 17-19 brow
    [94.96, 44.09], [111.73, 51.05], [143.27, 51.05], [160.04, 44.09],  # 20-23 brows
    [177.94, 41.54], [195.23, 44.82], [207.48, 55.85], [127.50, 71.53],  # 24-26 brow, 27 nose
    [127.50, 88.37], [127.50, 105.06], [127.50, 122.24], [107.44, 133.85],  # 28-31 nose
    [117.08, 137.40], [127.50, 140.43], [137.92, 137.40], [147.56, 133.85],  # 32-35 nose
    [67.41, 73.63], [78.09, 67.49], [90.93, 67.67], [102.16, 76.15],  # 36-39 eye
    [90.13, 78.29], [77.36, 78.13], [152.84, 76.15], [164.07, 67.67],  # 40-41 eye, 42-43
    [176.91, 67.49], [187.59, 73.63], [177.64, 78.13], [164.87, 78.29],  # 44-47 eye
    [89.09, 165.10], [103.23, 159.44], [117.53, 156.52], [127.50, 158.98],  # 48-51 outer lip
    [137.47, 156.52], [151.77, 159.44], [165.91, 165.10], [152.23, 178.91],  # 52-55
    [138.33, 185.02], [127.50, 186.18], [116.67, 185.02], [102.77, 178.91],  # 56-59
    [94.99, 165.84], [117.40, 164.85], [127.50, 165.92], [137.60, 164.85],  # 60-63 inner lip
    [160.01, 165.84], [137.79, 172.35], [127.50, 173.60], [117.21, 172.35],  # 64-67
], dtype=np.float32)
TEMPLATE_SIZE = 256
_TEMPLATE_SCALE, _TEMPLATE_CENTRE_X, _TEMPLATE_CHIN_Y = 210.0, 127.5, 232.0

# ---------------------------------------------------------------------------------------------
# Alignment anchors: centre of the image-left eye (mean of 36-41), centre of the image-right eye
# (mean of 42-47), mouth corners 48 and 54. tfau.face fits a similarity transform
# (cv2.estimateAffinePartial2D) from a face's anchors to TEMPLATE_ANCHORS. All four exist in
# every landmark scheme (dlib 68, DISFA 66, BP4D 49).
ALIGNMENT_POINTS = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47), (48,), (54,))


def _check_landmarks(landmarks, name: str = "landmarks", n: int = N_LANDMARKS) -> np.ndarray:
    arr = np.asarray(landmarks, dtype=np.float32)
    if arr.ndim < 2 or arr.shape[-2:] != (n, 2):
        raise ValueError(f"{name} must have shape [..., {n}, 2], got {arr.shape}")
    return arr


def _weights_matrix(groups: Sequence[Sequence[int]]) -> np.ndarray:
    """[len(groups), 68] averaging weights: row k = uniform mean of the landmarks in groups[k]."""
    w = np.zeros((len(groups), N_LANDMARKS), np.float32)
    for k, group in enumerate(groups):
        for index in group:
            w[k, index] += 1.0 / len(group)
    return w


_ANCHOR_WEIGHTS = _weights_matrix(ALIGNMENT_POINTS)


def alignment_anchors(landmarks68) -> np.ndarray:
    """[..., 68, 2] -> [..., 4, 2]: left eye centre, right eye centre, mouth corners 48, 54."""
    lm = _check_landmarks(landmarks68, "landmarks68")
    return np.einsum("pk,...kc->...pc", _ANCHOR_WEIGHTS, lm).astype(np.float32)


TEMPLATE_ANCHORS = alignment_anchors(TEMPLATE_68)


def inner_eye_distance(landmarks68) -> np.ndarray:
    """ROI-GCN / EAC-Net scale ``s = |x39 - x42|`` (inner eye corners), shape ``[...]``."""
    lm = _check_landmarks(landmarks68, "landmarks68")
    return np.abs(lm[..., 39, 0] - lm[..., 42, 0])


def interocular_distance(landmarks68) -> np.ndarray:
    """Outer-eye-corner distance ``|p36 - p45|`` (300-W normalisation), shape ``[...]``."""
    lm = _check_landmarks(landmarks68, "landmarks68")
    return np.linalg.norm(lm[..., 36, :] - lm[..., 45, :], axis=-1)


def flip_landmarks(landmarks68, width: float = TEMPLATE_SIZE) -> np.ndarray:
    """Landmarks of the horizontally flipped image: x -> (width - 1) - x, then permuted."""
    lm = _check_landmarks(landmarks68, "landmarks68").copy()
    lm[..., 0] = (width - 1) - lm[..., 0]
    return lm[..., FLIP_PERMUTATION, :]


def to_68(points, scheme: str) -> np.ndarray:
    """Converts ``[..., n, 2]`` landmarks of ``scheme`` to ``[..., 68, 2]``, NaN where missing.

    Args:
      points: landmarks in the source scheme (``dlib68``: 68, ``disfa66``: 66, ``bp4d49``: 49).
      scheme: one of ``"dlib68"``, ``"disfa66"``, ``"bp4d49"``.
    """
    try:
        index = SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown landmark scheme {scheme!r}; known: {sorted(SCHEMES)}") from None
    pts = _check_landmarks(points, "points", n=len(index))
    out = np.full(pts.shape[:-2] + (N_LANDMARKS, 2), np.nan, np.float32)
    out[..., index, :] = pts
    return out


def _similarity_fit(src, dst, mask):
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping
    ``src [68, 2]`` onto ``dst [N, 68, 2]`` using the points where ``mask [N, 68]`` is true.
    Returns ``(a, b, t)`` with ``x' = [[a, -b], [b, a]] x + t``: a, b ``[N]``, t ``[N, 2]``."""
    m = mask.astype(np.float64)[..., None]
    count = m.sum(axis=1)  # [N, 1]
    src_mean = (m * src).sum(axis=1) / count
    dst_mean = (m * np.nan_to_num(dst)).sum(axis=1) / count
    sc = (src - src_mean[:, None]) * m
    dc = (np.nan_to_num(dst) - dst_mean[:, None]) * m
    norm = (sc ** 2).sum(axis=(1, 2))
    a = (sc * dc).sum(axis=(1, 2)) / norm
    b = (sc[..., 0] * dc[..., 1] - sc[..., 1] * dc[..., 0]).sum(axis=1) / norm
    rot_src_mean = np.stack([a * src_mean[:, 0] - b * src_mean[:, 1],
                             b * src_mean[:, 0] + a * src_mean[:, 1]], axis=-1)
    return a, b, dst_mean - rot_src_mean


def complete_landmarks(points68, template=None) -> np.ndarray:
    """Fills NaN landmarks from ``TEMPLATE_68`` similarity-fitted to the known points.

    Used for BP4D's missing jaw (0-16) and 60/64, DISFA's 60/64. Known points are returned
    unchanged. A point counts as missing if either coordinate is NaN.

    Args:
      points68: ``[..., 68, 2]`` with NaN rows for missing points.
      template: optional ``[68, 2]`` shape to fit instead of ``TEMPLATE_68``.

    Raises:
      ValueError: if a face has fewer than 3 known points (a similarity fit from 2 points is
        exact, so nothing would check that the points are a face).
    """
    pts = _check_landmarks(points68, "points68")
    src = TEMPLATE_68 if template is None else _check_landmarks(template, "template")
    flat = pts.reshape(-1, N_LANDMARKS, 2).astype(np.float64)
    known = ~np.isnan(flat).any(axis=-1)
    n_known = known.sum(axis=1)
    if flat.shape[0] and n_known.min() < 3:
        bad = int(np.argmin(n_known))
        raise ValueError(f"points68: face {bad} (flattened) has {int(n_known[bad])} known "
                         "landmarks; complete_landmarks needs at least 3")
    if flat.shape[0] == 0 or known.all():
        return pts.copy()
    a, b, t = _similarity_fit(src.astype(np.float64), flat, known)
    fitted = np.stack([a[:, None] * src[:, 0] - b[:, None] * src[:, 1],
                       b[:, None] * src[:, 0] + a[:, None] * src[:, 1]], axis=-1) + t[:, None]
    out = np.where(known[..., None], flat, fitted)
    return out.reshape(pts.shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# AU locations as data.


@dataclasses.dataclass(frozen=True)
class PointRule:
    """One AU location: mean of ``landmarks`` plus ``offset`` (dx, dy) in units of s."""

    landmarks: Tuple[int, ...]
    offset: Tuple[float, float] = (0.0, 0.0)

    def mirror(self) -> "PointRule":
        """The same rule on the other side of the face (landmarks flipped, dx negated)."""
        return PointRule(tuple(int(FLIP_PERMUTATION[i]) for i in self.landmarks),
                         (-self.offset[0] if self.offset[0] else 0.0, self.offset[1]))


def _pair(*landmarks: int, dx: float = 0.0, dy: float = 0.0) -> Tuple[PointRule, PointRule]:
    """A symmetric pair: the rule on the image-left side (landmarks and (dx, dy) as given, dx in
    image x, so dx < 0 moves outward) followed by its mirror image on the image-right side."""
    left = PointRule(tuple(landmarks), (float(dx), float(dy)))
    return (left, left.mirror())


def _point(*landmarks: int, dx: float = 0.0, dy: float = 0.0) -> PointRule:
    return PointRule(tuple(landmarks), (float(dx), float(dy)))


# Heatmap (SCC-Heatmap, G2RL) AU locations. A reconstruction: the official SCC code ships
# precomputed centres, not the rules. Ordering of a pair: image-left point first. Offsets in units
# of s = |x39 - x42| (s ~ 50.7 px on the template). Only landmarks 17-59, 61-63, 65-67 are used,
# which every scheme provides (BP4D has no jaw, DISFA and BP4D have no 60/64).
_AU_POINTS: Dict[int, Tuple[PointRule, ...]] = {
    # Frontalis, inner part: forehead above the inner brow ends (as the ROI table, -s/2).
    1: _pair(21, dy=-0.5),
    # Frontalis, outer part: above the outer brow (as the ROI table, -s/3).
    2: _pair(18, dy=-1 / 3),
    # Corrugator / procerus: the glabella between the inner brow ends (DISFA: 1 point).
    4: (_point(21, 22),),
    # Levator palpebrae: centre of the upper eyelid.
    5: _pair(37, 38),
    # Orbicularis oculi (orbital): cheek below and lateral of the eye; lower-lid outer point 41
    # moved s/4 outward and 3s/4 down (the released BP4D frame puts AU6 at cheek level, lateral
    # of the mouth corners).
    6: _pair(41, dx=-0.25, dy=0.75),
    # Orbicularis oculi (palpebral): centre of the lower eyelid.
    7: _pair(40, 41),
    # Levator labii alaeque nasi: beside the nostril wings (s/3 above 31/35) and the bridge (28)
    # (DISFA: 3 points).
    9: _pair(31, dy=-1 / 3) + (_point(28),),
    # Levator labii superioris: upper lip at 49/53 (the EAC-Net code's AU10 points; the released
    # BP4D frame's AU10 lies there too).
    10: _pair(49),
    # Zygomaticus major: the lip corners.
    12: _pair(48),
    # Buccinator: dimple lateral of and a little above the lip corners (the released BP4D frame
    # has it 0.4 s outward and 0.13 s up from its AU12 points).
    14: _pair(48, dx=-0.4, dy=-0.1),
    # Depressor anguli oris: below the lip corners.
    15: _pair(48, dy=0.5),
    # Mentalis: lower lip bottom (57) and the chin boss below it (0.45 s ~ midpoint of 57 and 8 on
    # the template, without needing the jaw landmark 8 that BP4D lacks).
    17: (_point(57), _point(57, dy=0.45)),
    # Risorius / platysma: lateral of and below the lip corners.
    20: _pair(48, dx=-0.25, dy=0.25),
    # Orbicularis oris (tightener): upper and lower lip centres (ROI table points 51, 57).
    23: (_point(51), _point(57)),
    # Orbicularis oris (pressor): the lateral lips, midpoints of 49-59 and 53-55.
    24: _pair(49, 59),
    # Lips part: inner upper and lower lip centres.
    25: (_point(62), _point(66)),
    # Jaw drop: both sides of the lower chin, 3s/4 below 58 / 56 (the ROI table has s/2; lower
    # here so the points stay apart from AU17's chin-boss point in DISFA's table).
    26: _pair(58, dy=0.75),
}

HEATMAP_RULES: Dict[str, Dict[int, Tuple[PointRule, ...]]] = {
    # Official SCC code point counts: BP4D 2 per AU (10 maps).
    "bp4d_intensity": {au: _AU_POINTS[au] for au in (6, 10, 12, 14, 17)},
    # DISFA: 2 per AU except AU4 (1) and AU9 (3): 24 maps.
    "disfa_intensity": {au: _AU_POINTS[au]
                        for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)},
    # Every AU the synthetic dataset renders; also the fallback for any AU list.
    "synthetic": dict(_AU_POINTS),
}

# ROI-GCN centres (EAC-Net / JAA-Net family): two landmarks per AU, vertical offsets in units of
# s. AU5 and AU20 are not in the published table; they are our extension (for the synthetic
# set): AU5 at the outer upper lid 37/44 (38/43 is AU7's), AU20 at the lip corners like 12/14/15.
# AU1 and AU2 are ROI-GCN's own rule (its section 3.1: "Instead of shifting a distance from inner
# and outer brow, we directly take their landmark positions"); EAC-Net's shifted rows are
# ROI_BROWS_EAC (``roi_spec(..., eac_brows=True)``).
ROI_RULES: Dict[int, Tuple[PointRule, PointRule]] = {
    1: (_point(21), _point(22)),
    2: (_point(18), _point(25)),
    4: (_point(19, dy=1 / 3), _point(24, dy=1 / 3)),
    5: (_point(37), _point(44)),  # extension
    6: (_point(41, dy=1.0), _point(46, dy=1.0)),
    7: (_point(38), _point(43)),
    9: (_point(32, dy=-0.5), _point(34, dy=-0.5)),
    10: (_point(61), _point(63)),
    12: (_point(48), _point(54)),
    14: (_point(48), _point(54)),
    15: (_point(48), _point(54)),
    17: (_point(56, dy=0.5), _point(58, dy=0.5)),
    20: (_point(48), _point(54)),  # extension
    23: (_point(51), _point(57)),
    24: (_point(51), _point(57)),
    25: (_point(51), _point(57)),
    26: (_point(56, dy=0.5), _point(58, dy=0.5)),
}
# EAC-Net's released code puts AU10 at the upper lip 49, 53 instead of the inner lip 61, 63.
ROI_AU10_EAC = (_point(49), _point(53))
# EAC-Net / JAA-Net's AU1 (inner brow, s/2 up) and AU2 (outer brow, s/3 up).
ROI_BROWS_EAC = {1: (_point(21, dy=-0.5), _point(22, dy=-0.5)),
                 2: (_point(18, dy=-1 / 3), _point(25, dy=-1 / 3))}


def _compile(rules: Sequence[PointRule]):
    weights = _weights_matrix([r.landmarks for r in rules])
    offsets = np.array([r.offset for r in rules], np.float32).reshape(-1, 2)
    return weights, offsets


def _point_flip(weights: np.ndarray, offsets: np.ndarray, point_au: np.ndarray) -> np.ndarray:
    """For each point, the index of the same AU's point that is its mirror image (itself on the
    midline). Every table is mirror-symmetric, so this is a permutation (an involution)."""
    mirrored_w = weights[:, FLIP_PERMUTATION]
    mirrored_o = offsets * np.array([-1.0, 1.0], np.float32)
    out = np.empty(len(weights), np.int32)
    for i in range(len(weights)):
        match = np.nonzero(np.all(np.isclose(weights, mirrored_w[i]), axis=1)
                           & np.all(np.isclose(offsets, mirrored_o[i]), axis=1)
                           & (point_au == point_au[i]))[0]
        if len(match) != 1:
            raise AssertionError(f"AU table is not mirror-symmetric at point {i}")
        out[i] = match[0]
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class HeatmapSpec:
    """Compiled heatmap-point table.

    Attributes:
      aus: AU numbers, output order.
      point_au: int32 ``[P]``, index into ``aus`` of each point (points of an AU are contiguous).
      weights: float32 ``[P, 68]`` landmark averaging weights.
      offsets: float32 ``[P, 2]`` (dx, dy) in units of s = |x39 - x42|.
      point_flip: int32 ``[P]``, the mirror-image point of each point (for flipping maps
        directly; recomputing from flipped landmarks gives the same result).
    """

    aus: Tuple[int, ...]
    point_au: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray
    point_flip: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.point_au.shape[0])

    @property
    def n_aus(self) -> int:
        return len(self.aus)


@dataclasses.dataclass(frozen=True, eq=False)
class RoiSpec:
    """Compiled ROI-centre table: rows ``2a`` and ``2a + 1`` are the two centres of ``aus[a]``.

    Attributes:
      aus: AU numbers.
      weights: float32 ``[2A, 68]``; offsets: float32 ``[2A, 2]`` in units of s.
      point_flip: int32 ``[2A]``, the mirror-image centre of each centre (within its AU).
    """

    aus: Tuple[int, ...]
    weights: np.ndarray
    offsets: np.ndarray
    point_flip: np.ndarray

    @property
    def n_aus(self) -> int:
        return len(self.aus)


def _resolve_aus(aus_or_name, what: str):
    """(aus tuple, protocol-name-or-None) from a protocol name, Protocol or AU list."""
    from tfau import aus as aus_lib  # pure Python, no TF

    if isinstance(aus_or_name, str):
        if aus_or_name in HEATMAP_RULES and aus_or_name != "synthetic":
            return tuple(aus_lib.PROTOCOLS[aus_or_name].aus), aus_or_name
        if aus_or_name == "synthetic":
            return tuple(aus_lib.SYNTHETIC_AUS), "synthetic"
        if aus_or_name in aus_lib.PROTOCOLS:
            return tuple(aus_lib.PROTOCOLS[aus_or_name].aus), None
        raise ValueError(f"{what}: unknown protocol {aus_or_name!r}; known: "
                         f"{sorted(set(aus_lib.PROTOCOLS) | {'synthetic'})}")
    if isinstance(aus_or_name, aus_lib.Protocol):
        name = aus_or_name.name if aus_or_name.name in HEATMAP_RULES else None
        return tuple(aus_or_name.aus), name
    try:
        aus = tuple(int(a) for a in aus_or_name)
    except TypeError:
        raise ValueError(f"{what} must be a protocol name, a Protocol or a list of AU numbers, "
                         f"got {aus_or_name!r}") from None
    if not aus or len(set(aus)) != len(aus):
        raise ValueError(f"{what} must be a non-empty list of distinct AUs, got {aus}")
    return aus, None


def heatmap_spec(aus_or_protocol: Union[str, Iterable[int], "object"]) -> HeatmapSpec:
    """Compiles the heatmap-point table of a protocol name (``"bp4d_intensity"``,
    ``"disfa_intensity"``, ``"synthetic"``, any other name in ``tfau.aus.PROTOCOLS``), a
    ``Protocol``, or a list of AU numbers (rules from the ``"synthetic"`` table)."""
    aus, name = _resolve_aus(aus_or_protocol, "aus_or_protocol")
    table = HEATMAP_RULES[name or "synthetic"]
    missing = [a for a in aus if a not in table]
    if missing:
        raise ValueError(f"aus_or_protocol: no heatmap location rule for AU(s) {missing}; "
                         f"known: {sorted(table)}")
    rules, point_au = [], []
    for k, au in enumerate(aus):
        rules.extend(table[au])
        point_au.extend([k] * len(table[au]))
    weights, offsets = _compile(rules)
    point_au = np.array(point_au, np.int32)
    return HeatmapSpec(aus, point_au, weights, offsets, _point_flip(weights, offsets, point_au))


def roi_spec(aus_or_protocol, eac_au10: bool = False, eac_brows: bool = False) -> RoiSpec:
    """Compiles ROI-GCN's two-centre table for ``aus_or_protocol`` (name, Protocol or AU list).

    Args:
      eac_au10: use EAC-Net's code points 49, 53 for AU10 instead of the paper table's 61, 63.
      eac_brows: use EAC-Net's AU1 / AU2 centres (brow landmarks shifted up by s/2, s/3)
        instead of ROI-GCN's brow landmarks themselves.
    """
    aus, _ = _resolve_aus(aus_or_protocol, "aus_or_protocol")
    missing = [a for a in aus if a not in ROI_RULES]
    if missing:
        raise ValueError(f"aus_or_protocol: no ROI rule for AU(s) {missing}; "
                         f"known: {sorted(ROI_RULES)}")
    rules = []
    for au in aus:
        if au == 10 and eac_au10:
            rules.extend(ROI_AU10_EAC)
        elif au in ROI_BROWS_EAC and eac_brows:
            rules.extend(ROI_BROWS_EAC[au])
        else:
            rules.extend(ROI_RULES[au])
    weights, offsets = _compile(rules)
    return RoiSpec(aus, weights, offsets,
                   _point_flip(weights, offsets, np.repeat(np.arange(len(aus)), 2)))


def landmark_points(landmarks68, weights, offsets) -> np.ndarray:
    """``weights @ landmarks + offsets * s``: ``[..., 68, 2]`` -> ``[..., P, 2]``."""
    lm = _check_landmarks(landmarks68, "landmarks68")
    s = inner_eye_distance(lm)[..., None, None]
    return (np.einsum("pk,...kc->...pc", weights, lm) + offsets * s).astype(np.float32)


def heatmap_points(landmarks68, spec: HeatmapSpec) -> np.ndarray:
    """AU heatmap centres ``[..., P, 2]`` in the landmarks' frame."""
    return landmark_points(landmarks68, spec.weights, spec.offsets)


def roi_points(landmarks68, spec: RoiSpec) -> np.ndarray:
    """ROI centres ``[..., 2A, 2]`` in the landmarks' frame."""
    return landmark_points(landmarks68, spec.weights, spec.offsets)


# ---------------------------------------------------------------------------------------------
# Template derivation (documentation + test; not used at run time).


def dlib_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Optional[str]:
    """Path of a model file in the ``face_recognition_models`` package, or None if absent."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", name)
    return path if os.path.exists(path) else None


def _dlib_mean_shape(path: str) -> np.ndarray:
    """Reads ``initial_shape`` (the first serialised field after the version) of a dlib
    shape_predictor file: [68, 2] in detection-box units. dlib writes integers as a control byte
    (low nibble = byte count, bit 7 = sign) followed by little-endian bytes, and a float as
    integer mantissa and exponent (value = m * 2**e); a matrix as -rows, -cols, elements."""
    with open(path, "rb") as f:
        buf = f.read(8192)
    pos = 0

    def read_int():
        nonlocal pos
        ctrl = buf[pos]
        n = ctrl & 0x0F
        value = int.from_bytes(buf[pos + 1:pos + 1 + n], "little")
        pos += 1 + n
        return -value if ctrl & 0x80 else value

    read_int()  # version
    rows, cols = abs(read_int()), abs(read_int())
    values = []
    for _ in range(rows * cols):
        mantissa = read_int()
        values.append(mantissa * 2.0 ** read_int())
    return np.array(values, np.float64).reshape(-1, 2)


def _derive_template(path: Optional[str] = None) -> np.ndarray:
    """Recomputes TEMPLATE_68 from dlib's model file (see the comment at TEMPLATE_68)."""
    shape = _dlib_mean_shape(path or dlib_model_path())
    left = np.arange(N_LANDMARKS) < FLIP_PERMUTATION
    v = (shape[FLIP_PERMUTATION] - shape)[left].sum(axis=0)
    angle = -np.arctan2(v[1], v[0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shape = (shape - shape.mean(axis=0)) @ rot.T
    mirror = shape * [-1.0, 1.0]
    shape = (shape + mirror[FLIP_PERMUTATION]) / 2
    shape = shape * _TEMPLATE_SCALE
    shape[:, 0] += _TEMPLATE_CENTRE_X - shape[:, 0].mean()
    shape[:, 1] += _TEMPLATE_CHIN_Y - shape[8, 1]
    return np.round(shape, 2).astype(np.float32)
