"""Procedural face renderer whose Action Unit intensities are known exactly.

A face is the 68-point neutral template (``tfau.geometry.TEMPLATE_68``) reshaped per identity,
deformed by FACS-style landmark displacements for each AU, posed by a small similarity transform
(in-plane rotation, scale, offset) and drawn with antialiased OpenCV primitives at 256x256.
Every AU has a geometric cue (landmark displacement proportional to its intensity) and most have
the appearance cue a FACS coder looks for (furrows, wrinkles, bulges, dimples), whose darkness and
size grow with intensity, so intensity is monotone in what is visible.

Everything is deterministic: identity parameters come from ``(seed, identity)``, intensity
trajectories and sequence-level nuisance from ``(seed, identity, sequence)`` and per-frame noise
from ``(seed, identity, sequence, frame)``, independent of the order frames are generated in.

Public API:
  AUS                       the rendered AUs (``tfau.aus.SYNTHETIC_AUS``), column order of levels
  make_identity(i, seed)    -> Identity (shape, colours, hair, lighting of subject i)
  sequence_plan(i, s, n_frames, seed) -> SequencePlan (continuous intensities, levels, poses)
  render_face(identity, levels, pose, ...) -> (image uint8 [256,256,3] RGB, landmarks [68,2])
  deform(shape, levels)     -> landmarks moved by the AUs (canonical frame, before pose)
  render_frame(i, s, f, n_frames, seed) -> Frame (image, landmarks, levels, intensities)
  iter_sequence(i, s, n_frames, seed) -> the frames of one sequence
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np

from tfau import aus as aus_lib
from tfau import geometry

AUS: Tuple[int, ...] = tuple(aus_lib.SYNTHETIC_AUS)
AU_COLUMN: Dict[int, int] = {au: i for i, au in enumerate(AUS)}
IMAGE_SIZE = 256
MAX_LEVEL = 5

# ----------------------------------------------------------------------------------------------
# Neutral template
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def neutral_template() -> np.ndarray:
    """[68, 2] float32 neutral face in the 256 aligned frame: ``tfau.geometry.TEMPLATE_68``."""
    return np.asarray(geometry.TEMPLATE_68, np.float32).copy()


# Landmark index groups (dlib 68).
JAW = np.arange(0, 17)
BROW_L, BROW_R = np.arange(17, 22), np.arange(22, 27)  # image-left / image-right
NOSE_BRIDGE, NOSE_BASE = np.arange(27, 31), np.arange(31, 36)
EYE_L, EYE_R = np.arange(36, 42), np.arange(42, 48)
MOUTH_OUT, MOUTH_IN = np.arange(48, 60), np.arange(60, 68)
UPPER_LID = (37, 38, 43, 44)
LOWER_LID = (40, 41, 46, 47)
UPPER_LIP_OUT = (49, 50, 51, 52, 53)
LOWER_LIP_OUT = (55, 56, 57, 58, 59)
UPPER_LIP_IN = (61, 62, 63)
LOWER_LIP_IN = (65, 66, 67)
CORNERS = (48, 54, 60, 64)

# ----------------------------------------------------------------------------------------------
# Identities
# ----------------------------------------------------------------------------------------------

# Skin tones (RGB) from light to dark; an identity interpolates between two neighbours.
_SKIN_TONES = np.array([
    (246, 214, 190), (236, 196, 164), (222, 176, 140), (198, 148, 112),
    (170, 120, 86), (140, 94, 64), (108, 70, 48), (84, 56, 40),
], np.float32)
_HAIR_COLOURS = np.array([
    (22, 18, 16), (48, 34, 26), (84, 58, 38), (128, 92, 58), (196, 164, 112),
    (150, 72, 40), (160, 160, 160), (70, 70, 74),
], np.float32)
_IRIS_COLOURS = np.array([(70, 46, 30), (40, 28, 20), (70, 100, 130), (80, 110, 70),
                          (110, 80, 40)], np.float32)


@dataclasses.dataclass(frozen=True)
class Identity:
    """Everything fixed about one synthetic subject."""

    index: int
    shape: np.ndarray            # [68, 2] neutral landmarks of this face (canonical frame)
    skin: np.ndarray             # RGB float
    hair: np.ndarray
    brow: np.ndarray
    lips: np.ndarray
    iris: np.ndarray
    background: np.ndarray       # [2, 3] gradient colours
    background_blobs: np.ndarray  # [K, 6] x, y, r, r, g, b of soft blobs
    shirt: np.ndarray
    hair_style: int              # 0 short, 1 long, 2 very short / bald, 3 side parting
    brow_thickness: float
    lip_fullness: float
    age_lines: float             # baseline wrinkle darkness at neutral (nuisance, 0..0.1)
    light_angle: float           # direction of the key light (radians)
    light_strength: float
    ambient: float


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *map(int, keys)]))


def _eye_distance(pts: np.ndarray) -> float:
    return float(np.linalg.norm(pts[42:48].mean(0) - pts[36:42].mean(0)))


def _identity_shape(template: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reshapes the template: face width/length, jaw, eye size/spacing, nose, mouth, brows."""
    pts = template.astype(np.float64).copy()
    d = _eye_distance(pts)
    cx = float(pts[27, 0])
    eye_y = float(pts[36:48, 1].mean())
    # Face width and lower-face length (jaw only; the inner features keep their anchor).
    width = rng.uniform(0.9, 1.08)
    length = rng.uniform(0.92, 1.08)
    chin = rng.uniform(0.8, 1.2)  # >1 broader chin
    for i in JAW:
        x, y = pts[i]
        t = (y - eye_y) / max(pts[8, 1] - eye_y, 1.0)  # 0 at eye level, 1 at the chin
        t = float(np.clip(t, 0.0, 1.0))
        pts[i, 0] = cx + (x - cx) * width * (1.0 + (chin - 1.0) * t ** 2 * 0.5)
        pts[i, 1] = eye_y + (y - eye_y) * length
    # Eyes: size and spacing.
    eye_scale = rng.uniform(0.88, 1.14)
    eye_open = rng.uniform(0.85, 1.2)
    spacing = rng.uniform(-0.05, 0.05) * d
    for eye, sign in ((EYE_L, -1.0), (EYE_R, 1.0)):
        c = pts[eye].mean(0)
        pts[eye, 0] = c[0] + (pts[eye, 0] - c[0]) * eye_scale + sign * spacing
        pts[eye, 1] = c[1] + (pts[eye, 1] - c[1]) * eye_scale * eye_open
    # Brows: height and arch.
    brow_dy = rng.uniform(-0.07, 0.07) * d
    arch = rng.uniform(-0.04, 0.05) * d
    for brow in (BROW_L, BROW_R):
        pts[brow, 1] += brow_dy
        pts[brow[1:4], 1] -= arch * np.array([0.6, 1.0, 0.6])
        pts[brow, 0] = cx + (pts[brow, 0] - cx) * (1.0 + spacing / d * 0.5)
    # Nose: length and width.
    nose_len = rng.uniform(0.9, 1.1)
    nose_w = rng.uniform(0.85, 1.2)
    top = pts[27, 1]
    for i in range(28, 36):
        pts[i, 1] = top + (pts[i, 1] - top) * nose_len
    pts[NOSE_BASE, 0] = cx + (pts[NOSE_BASE, 0] - cx) * nose_w
    # Mouth: width, vertical position follows the lower-face length.
    mouth_w = rng.uniform(0.94, 1.06)
    mouth_dy = (length - 1.0) * (pts[51, 1] - eye_y) * 0.8
    for i in range(48, 68):
        pts[i, 0] = cx + (pts[i, 0] - cx) * mouth_w
        pts[i, 1] += mouth_dy
    # Neutral = lips closed (the template's mean shape has them slightly apart): the inner upper
    # and lower lip meet halfway; AU25 / AU26 open them again.
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        mid = (pts[up, 1] + pts[lo, 1]) / 2.0
        pts[up, 1] = pts[lo, 1] = mid
    return pts.astype(np.float32)


@functools.lru_cache(maxsize=512)
def make_identity(index: int, seed: int = 0) -> Identity:
    """Deterministic identity ``index`` (0-based) for a base ``seed``."""
    rng = _rng(seed, 1, index)
    shape = _identity_shape(neutral_template(), rng)
    tone = rng.uniform(0, len(_SKIN_TONES) - 1)
    lo = int(tone)
    hi = min(lo + 1, len(_SKIN_TONES) - 1)
    skin = _SKIN_TONES[lo] * (1 - (tone - lo)) + _SKIN_TONES[hi] * (tone - lo)
    skin = skin * rng.uniform(0.96, 1.04, 3)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    brow = np.minimum(hair, skin * 0.45) * 0.9 + 6.0
    lip_tint = np.array([180, 70, 80], np.float32)
    lips = skin * rng.uniform(0.62, 0.75) + lip_tint * rng.uniform(0.12, 0.22)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
    background = rng.uniform(30, 235, (2, 3)).astype(np.float32)
    n_blobs = int(rng.integers(2, 6))
    blobs = np.concatenate([rng.uniform(0, IMAGE_SIZE, (n_blobs, 2)),
                            rng.uniform(15, 60, (n_blobs, 1)),
                            rng.uniform(20, 240, (n_blobs, 3))], axis=1).astype(np.float32)
    shirt = rng.uniform(20, 230, 3).astype(np.float32)
    return Identity(
        index=index, shape=shape,
        skin=np.clip(skin, 0, 255).astype(np.float32), hair=np.clip(hair, 0, 255).astype(np.float32),
        brow=np.clip(brow, 0, 255).astype(np.float32), lips=np.clip(lips, 0, 255).astype(np.float32),
        iris=iris, background=background, background_blobs=blobs, shirt=shirt,
        hair_style=int(rng.integers(4)),
        brow_thickness=float(rng.uniform(0.055, 0.09)),
        lip_fullness=float(rng.uniform(0.8, 1.25)),
        age_lines=float(rng.uniform(0.0, 0.08)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.0, 0.22)),
        ambient=float(rng.uniform(0.85, 1.1)),
    )


# ----------------------------------------------------------------------------------------------
# AU deformations (canonical frame; d = eye distance; all linear in the level => monotone)
# ----------------------------------------------------------------------------------------------

def _lv(levels: np.ndarray, au: int) -> float:
    return float(levels[AU_COLUMN[au]])


def deform(shape: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Moves the 68 landmarks of ``shape`` by the AUs at ``levels`` ([len(AUS)], 0..5).

    y grows downward; "left" below means image left (the subject's right).
    """
    p = shape.astype(np.float64).copy()
    d = _eye_distance(p)
    u = d / 5.0 * 0.2  # displacement unit per intensity level: 0.04 d (about 2.6 px at d=64)
    cx = float(shape[27, 0])

    def move(idx, dx, dy, mirror_x=True):
        """Moves points; dx is mirrored (outward positive) for points right of the midline."""
        for i in np.atleast_1d(idx):
            sign = 1.0 if (shape[i, 0] >= cx or not mirror_x) else -1.0
            p[i, 0] += sign * dx
            p[i, 1] += dy

    au = functools.partial(_lv, levels)
    # AU1 inner brow raiser: inner brow up, obliquely.
    a = au(1)
    for w, (i, j) in zip((1.0, 0.75, 0.45, 0.2, 0.05), ((21, 22), (20, 23), (19, 24), (18, 25), (17, 26))):
        move([i, j], 0.0, -0.85 * u * a * w)
    # AU2 outer brow raiser.
    a = au(2)
    for w, (i, j) in zip((1.0, 0.95, 0.65, 0.3, 0.1), ((17, 26), (18, 25), (19, 24), (20, 23), (21, 22))):
        move([i, j], 0.05 * u * a * w, -0.8 * u * a * w)
    # AU4 brow lowerer: brows down and together (inner more).
    a = au(4)
    for w, (i, j) in zip((1.0, 0.85, 0.6, 0.4, 0.3), ((21, 22), (20, 23), (19, 24), (18, 25), (17, 26))):
        move([i, j], -0.45 * u * a * w, 0.85 * u * a * w)
    move([37, 38, 43, 44], 0.0, 0.08 * u * a)
    # AU5 upper lid raiser.
    a = au(5)
    move([37, 38, 43, 44], 0.0, -0.55 * u * a)
    move([36, 39, 42, 45], 0.0, -0.06 * u * a)
    # AU6 cheek raiser: lower lid pushed up, outer corner up slightly.
    a = au(6)
    move([40, 41, 46, 47], 0.0, -0.26 * u * a)
    move([36, 45], 0.0, -0.1 * u * a)
    # AU7 lid tightener: lower lid up and straight, upper lid down a little.
    a = au(7)
    move([40, 41, 46, 47], 0.0, -0.36 * u * a)
    move([37, 38, 43, 44], 0.0, 0.12 * u * a)
    # AU9 nose wrinkler: nostril wings up, upper lip up a little, inner brows down.
    a = au(9)
    move([31, 35], 0.12 * u * a, -0.4 * u * a)
    move([32, 33, 34], 0.0, -0.3 * u * a)
    move([30], 0.0, -0.15 * u * a)
    move([21, 22], -0.1 * u * a, 0.4 * u * a)
    move([20, 23], 0.0, 0.25 * u * a)
    move([49, 50, 51, 52, 53, 61, 62, 63], 0.0, -0.2 * u * a)
    # AU10 upper lip raiser: centre of the upper lip up (outer and inner), wings up.
    a = au(10)
    for w, idx in ((1.0, [50, 51, 52, 61, 62, 63]), (0.7, [49, 53]), (0.15, [48, 54, 60, 64])):
        move(idx, 0.0, -0.75 * u * a * w)
    move([31, 35], 0.05 * u * a, -0.12 * u * a)
    # AU12 lip corner puller: corners up and out.
    a = au(12)
    move([48, 54, 60, 64], 0.75 * u * a, -0.7 * u * a)
    move([49, 53, 59, 55], 0.45 * u * a, -0.35 * u * a)
    move([50, 52, 58, 56, 61, 63, 65, 67], 0.2 * u * a, -0.1 * u * a)
    # AU14 dimpler: corners pulled in (and tight), slight up.
    a = au(14)
    move([48, 54, 60, 64], -0.42 * u * a, -0.1 * u * a)
    move([49, 53, 59, 55], -0.2 * u * a, 0.0)
    # AU15 lip corner depressor.
    a = au(15)
    move([48, 54, 60, 64], 0.1 * u * a, 0.95 * u * a)
    move([59, 55], 0.05 * u * a, 0.45 * u * a)
    move([49, 53], 0.0, 0.3 * u * a)
    # AU17 chin raiser: lower lip and chin pushed up.
    a = au(17)
    move([56, 57, 58, 65, 66, 67], 0.0, -0.5 * u * a)
    move([55, 59], 0.0, -0.3 * u * a)
    move([7, 8, 9], 0.0, -0.3 * u * a)
    move([6, 10], 0.0, -0.15 * u * a)
    move([48, 54], 0.0, 0.15 * u * a)
    # AU20 lip stretcher: corners laterally out, lips flatten.
    a = au(20)
    move([48, 54, 60, 64], 1.15 * u * a, 0.2 * u * a)
    move([49, 53, 59, 55], 0.6 * u * a, 0.05 * u * a)
    move([50, 52, 58, 56, 61, 63, 65, 67], 0.2 * u * a, 0.0)
    move([50, 51, 52], 0.0, 0.1 * u * a)
    move([56, 57, 58], 0.0, -0.1 * u * a)
    # AU23 lip tightener: red of the lips narrowed, corners slightly in.
    a = au(23)
    move(list(UPPER_LIP_OUT), 0.0, 0.3 * u * a)
    move(list(LOWER_LIP_OUT), 0.0, -0.4 * u * a)
    move([48, 54, 60, 64], -0.3 * u * a, 0.0)
    move([49, 53, 59, 55], -0.15 * u * a, 0.0)
    # AU24 lip pressor: lips pressed together (thin and flat), mouth slightly wider.
    a = au(24)
    move(list(UPPER_LIP_OUT), 0.0, 0.22 * u * a)
    move(list(LOWER_LIP_OUT), 0.0, -0.28 * u * a)
    move([48, 54, 60, 64], 0.08 * u * a, 0.05 * u * a)
    # AU26 jaw drop: chin and lower lip down; the lips stay together unless AU25.
    a26, a25 = au(26), au(25)
    drop = 1.35 * u * a26
    jaw_w = {3: 0.15, 4: 0.35, 5: 0.6, 6: 0.82, 7: 0.96, 8: 1.0, 9: 0.96, 10: 0.82, 11: 0.6,
             12: 0.35, 13: 0.15}
    for i, w in jaw_w.items():
        move([i], -0.08 * drop * w, drop * w)
    move(list(LOWER_LIP_OUT), 0.0, (0.8 if a25 > 0 else 0.35) * drop)
    move([48, 54, 60, 64], -0.06 * drop, (0.3 if a25 > 0 else 0.12) * drop)
    # AU25 lips part (inner lips separate); with AU25 the lower inner lip follows the jaw too.
    gap = 0.55 * u * a25 + (0.75 * drop if a25 > 0 else 0.0)
    move(list(LOWER_LIP_IN), 0.0, gap)
    move(list(UPPER_LIP_IN), 0.0, -0.12 * u * a25)
    move(list(LOWER_LIP_OUT), 0.0, 0.5 * u * a25)
    # Keep the outer lower lip below the inner one and the inner mouth inside the outer.
    for o, i in ((57, 66), (56, 65), (58, 67)):
        p[o, 1] = max(p[o, 1], p[i, 1] + 0.12 * d * 0.5)
    for o, i in ((51, 62), (50, 61), (52, 63)):
        p[o, 1] = min(p[o, 1], p[i, 1] - 0.05 * d)
    return p.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Intensity trajectories (prototypical expressions + independent noise AUs)
# ----------------------------------------------------------------------------------------------

# expression -> {AU: (probability the AU is part of this instance, relative intensity)}
EXPRESSIONS: Dict[str, Dict[int, Tuple[float, float]]] = {
    "neutral": {},
    "talking": {25: (1.0, 0.55), 26: (0.6, 0.45), 10: (0.2, 0.4), 17: (0.2, 0.4)},
    "happiness": {12: (1.0, 1.0), 6: (0.85, 0.8), 25: (0.6, 0.7), 10: (0.25, 0.45),
                  26: (0.2, 0.5), 7: (0.2, 0.5)},
    "suppressed_smile": {14: (1.0, 1.0), 12: (0.6, 0.45), 24: (0.35, 0.6), 17: (0.3, 0.5)},
    "surprise": {1: (1.0, 1.0), 2: (1.0, 0.95), 5: (0.85, 0.8), 26: (0.75, 0.85), 25: (0.9, 0.8)},
    "sadness": {1: (1.0, 0.9), 4: (0.85, 0.75), 15: (1.0, 1.0), 17: (0.5, 0.6)},
    "anger": {4: (1.0, 1.0), 5: (0.55, 0.7), 7: (0.9, 0.9), 23: (0.8, 0.9), 24: (0.4, 0.8),
              17: (0.3, 0.6)},
    "disgust": {9: (1.0, 1.0), 10: (0.9, 0.9), 17: (0.65, 0.7), 4: (0.4, 0.5), 15: (0.3, 0.5),
                25: (0.3, 0.5)},
    "fear": {1: (1.0, 0.9), 2: (0.85, 0.8), 4: (0.8, 0.75), 5: (0.9, 0.9), 20: (1.0, 1.0),
             26: (0.55, 0.7), 25: (0.8, 0.8)},
    # pain / grimace (the PSPI AUs plus a stretched mouth)
    "pain": {4: (0.85, 0.9), 6: (0.7, 0.8), 7: (0.9, 0.9), 9: (0.5, 0.7), 10: (0.5, 0.7),
             20: (0.7, 0.9), 25: (0.5, 0.6), 15: (0.3, 0.6)},
}
EXPRESSION_PROBS: Dict[str, float] = {
    "neutral": 0.05, "talking": 0.08, "happiness": 0.15, "suppressed_smile": 0.09,
    "surprise": 0.1, "sadness": 0.12, "anger": 0.1, "disgust": 0.09, "fear": 0.11, "pain": 0.08,
}
NOISE_AU_PROB = 0.18  # per sequence and AU: an independent activation outside the expression
SECOND_EXPRESSION_PROB = 0.25


@dataclasses.dataclass(frozen=True)
class SequencePlan:
    """One "video": which expressions, per-frame continuous intensities, levels and poses."""

    identity: int
    sequence: int
    expressions: Tuple[str, ...]
    intensities: np.ndarray  # [F, len(AUS)] float32, continuous 0..5
    levels: np.ndarray       # [F, len(AUS)] int32, round(intensities): what is rendered
    poses: np.ndarray        # [F, 4] rotation (deg), scale, dx, dy
    gaze: np.ndarray         # [F, 2] iris offset in eye-width units
    light: np.ndarray        # [3] per-sequence lighting jitter (angle delta, strength, ambient)


def _envelope(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth onset-apex-offset bump on t in [0, 1]."""
    onset = rng.uniform(-0.25, 0.45)
    rise = rng.uniform(0.18, 0.4)
    hold = rng.uniform(0.1, 0.6)
    fall = rng.uniform(0.18, 0.4)

    def smooth(x):
        x = np.clip(x, 0.0, 1.0)
        return x * x * (3 - 2 * x)

    up = smooth((t - onset) / rise)
    down = 1.0 - smooth((t - (onset + rise + hold)) / fall)
    return up * down


def sequence_plan(identity: int, sequence: int, n_frames: int, seed: int = 0) -> SequencePlan:
    """Intensity trajectories and head motion of sequence ``sequence`` of ``identity``."""
    rng = _rng(seed, 2, identity, sequence)
    t = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.array([0.5])
    names = list(EXPRESSION_PROBS)
    probs = np.array([EXPRESSION_PROBS[n] for n in names])
    probs = probs / probs.sum()
    chosen = [names[rng.choice(len(names), p=probs)]]
    if rng.uniform() < SECOND_EXPRESSION_PROB:
        chosen.append(names[rng.choice(len(names), p=probs)])
    x = np.zeros((n_frames, len(AUS)), np.float64)
    for name in chosen:
        apex = rng.uniform(1.0, 5.6)
        env = _envelope(t, rng)
        for au, (p_in, rel) in EXPRESSIONS[name].items():
            if rng.uniform() >= p_in:
                continue
            lag = rng.normal(0.0, 0.04)
            env_au = np.interp(t - lag, t, env) if n_frames > 1 else env
            x[:, AU_COLUMN[au]] += apex * rel * rng.uniform(0.75, 1.2) * env_au
    for au in AUS:
        if rng.uniform() < NOISE_AU_PROB:
            x[:, AU_COLUMN[au]] += rng.uniform(0.8, 4.0) * _envelope(t, rng)
    x = np.clip(x, 0.0, MAX_LEVEL)
    levels = np.clip(np.rint(x), 0, MAX_LEVEL).astype(np.int32)
    # Physical exclusions: pressed lips (AU24) cannot be parted (AU25).
    parted = levels[:, AU_COLUMN[25]] > 0
    levels[parted, AU_COLUMN[24]] = 0
    x[parted, AU_COLUMN[24]] = np.minimum(x[parted, AU_COLUMN[24]], 0.49)
    # Head pose: a per-sequence base plus a slow linear drift.
    base = np.array([np.clip(rng.normal(0, 3.5), -8, 8), rng.uniform(0.9, 1.02),
                     rng.uniform(-4, 4), rng.uniform(-4, 4)])
    drift = np.array([rng.uniform(-2, 2), rng.uniform(-0.02, 0.02), rng.uniform(-2, 2),
                      rng.uniform(-2, 2)])
    poses = base[None] + (t[:, None] - 0.5) * drift[None]
    g0 = rng.uniform(-0.08, 0.08, 2)
    gaze = g0[None] + (t[:, None] - 0.5) * rng.uniform(-0.06, 0.06, 2)[None]
    light = np.array([rng.normal(0, 0.3), rng.uniform(0.85, 1.15), rng.uniform(0.94, 1.06)])
    return SequencePlan(identity, sequence, tuple(chosen), x.astype(np.float32), levels,
                        poses.astype(np.float32), gaze.astype(np.float32), light.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------

_SHIFT = 4
_ONE = 1 << _SHIFT


def pose_matrix(pose: Sequence[float], centre: Tuple[float, float] = (127.5, 127.5)) -> np.ndarray:
    """2x3 similarity: rotate by pose[0] degrees and scale by pose[1] about ``centre``, shift."""
    angle, scale, dx, dy = (float(v) for v in pose)
    m = cv2.getRotationMatrix2D(centre, angle, scale)
    m[:, 2] += (dx, dy)
    return m


class _Painter:
    """Draws canonical-frame geometry through the pose transform, antialiased, sub-pixel."""

    def __init__(self, image: np.ndarray, matrix: np.ndarray):
        self.image = image
        self.m = matrix
        self.scale = float(math.sqrt(abs(np.linalg.det(matrix[:, :2]))))

    def tf(self, pts) -> np.ndarray:
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return pts @ self.m[:, :2].T + self.m[:, 2]

    def _fixed(self, pts) -> np.ndarray:
        return np.round(self.tf(pts) * _ONE).astype(np.int32)

    def fill(self, pts, colour, target=None):
        target = self.image if target is None else target
        cv2.fillPoly(target, [self._fixed(pts)], _colour(colour), cv2.LINE_AA, _SHIFT)

    def fill_many(self, polys, colour, target=None):
        target = self.image if target is None else target
        cv2.fillPoly(target, [self._fixed(p) for p in polys], _colour(colour), cv2.LINE_AA, _SHIFT)

    def line(self, pts, colour, width, closed=False, target=None):
        target = self.image if target is None else target
        w = max(1, int(round(width * self.scale)))
        cv2.polylines(target, [self._fixed(pts)], closed, _colour(colour), w, cv2.LINE_AA, _SHIFT)

    def stroke(self, pts, widths, colour, target=None):
        """Filled tapered stroke along a polyline (``widths`` per point, canonical px)."""
        pts = np.asarray(pts, np.float64)
        widths = np.atleast_1d(np.asarray(widths, np.float64))
        if widths.size != len(pts):  # resample a width profile onto the polyline
            widths = np.interp(np.linspace(0, 1, len(pts)), np.linspace(0, 1, widths.size), widths)
        poly = _stroke_polygon(pts, widths)
        self.fill(poly, colour, target)


def _colour(c):
    if isinstance(c, (int, float)):
        return float(c)
    r, g, b = (min(max(float(v), 0.0), 255.0) for v in c)
    return (r, g, b)


def _stroke_polygon(pts: np.ndarray, widths) -> np.ndarray:
    if len(pts) > 2:
        tang = np.empty_like(pts)
        tang[1:-1] = pts[2:] - pts[:-2]
        tang[0] = pts[1] - pts[0]
        tang[-1] = pts[-1] - pts[-2]
    else:
        tang = np.repeat(pts[1:] - pts[:1], len(pts), 0)
    norm = np.stack([-tang[:, 1], tang[:, 0]], 1)
    norm /= np.maximum(np.sqrt((norm * norm).sum(1, keepdims=True)), 1e-6)
    off = norm * (np.asarray(widths, np.float64) / 2.0)[:, None]
    return np.concatenate([pts + off, (pts - off)[::-1]], 0)


def _ellipse(centre, axes, angle_deg=0.0, n=28, start=0.0, end=360.0) -> np.ndarray:
    a = np.deg2rad(np.linspace(start, end, n))
    x = axes[0] * np.cos(a)
    y = axes[1] * np.sin(a)
    if angle_deg == 0.0:
        return np.stack([centre[0] + x, centre[1] + y], 1)
    r = np.deg2rad(angle_deg)
    return np.stack([centre[0] + x * np.cos(r) - y * np.sin(r),
                     centre[1] + x * np.sin(r) + y * np.cos(r)], 1)


_CR_CACHE: Dict[int, np.ndarray] = {}


def _catmull_rom_basis(n: int) -> np.ndarray:
    basis = _CR_CACHE.get(n)
    if basis is None:
        s = np.linspace(0, 1, n, endpoint=False)
        basis = 0.5 * np.stack([-s + 2 * s ** 2 - s ** 3, 2 - 5 * s ** 2 + 3 * s ** 3,
                                s + 4 * s ** 2 - 3 * s ** 3, -s ** 2 + s ** 3], 1)  # [n, 4]
        _CR_CACHE[n] = basis
    return basis


def _curve(pts, n=12) -> np.ndarray:
    """Smooth polyline through control points (Catmull-Rom, ``n`` samples per segment)."""
    pts = np.asarray(pts, np.float64)
    if len(pts) < 3:
        return pts
    ext = np.concatenate([2 * pts[:1] - pts[1:2], pts, 2 * pts[-1:] - pts[-2:-1]], 0)
    k = len(pts) - 1
    windows = np.stack([ext[0:k], ext[1:k + 1], ext[2:k + 2], ext[3:k + 3]], 1)  # [k, 4, 2]
    out = np.einsum("sj,kjc->ksc", _catmull_rom_basis(n), windows).reshape(-1, 2)
    return np.concatenate([out, pts[-1:]], 0)


def _background(identity: Identity) -> np.ndarray:
    """Per-identity backdrop: a two-colour gradient with soft blobs (drawn at 32 px)."""
    small = 32
    yy = np.linspace(0.0, 1.0, small, dtype=np.float32)[:, None, None]
    xx = np.linspace(0.0, 1.0, small, dtype=np.float32)[None, :, None]
    c0, c1 = identity.background
    bg = c0 * (1 - yy) + c1 * yy + (xx - 0.5) * 20.0
    bg = np.broadcast_to(bg, (small, small, 3)).copy()
    for x, y, r, cr, cg, cb in identity.background_blobs:
        d2 = ((xx[..., 0] * IMAGE_SIZE - x) ** 2 + (yy[..., 0] * IMAGE_SIZE - y) ** 2) / (r * r)
        w = np.exp(-d2)[..., None] * 0.6
        bg = bg * (1 - w) + np.array([cr, cg, cb], np.float32) * w
    return cv2.resize(bg, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    return np.random.default_rng(12345).standard_normal((512, 512, 3), dtype=np.float32)


def _composite(pt: "_Painter", img: np.ndarray, layer: np.ndarray, poly) -> None:
    """img = layer inside the (antialiased) polygon, on the polygon's bounding box only."""
    box = np.round(pt.tf(poly))
    x0 = int(np.clip(box[:, 0].min() - 2, 0, IMAGE_SIZE))
    y0 = int(np.clip(box[:, 1].min() - 2, 0, IMAGE_SIZE))
    x1 = int(np.clip(box[:, 0].max() + 3, 0, IMAGE_SIZE))
    y1 = int(np.clip(box[:, 1].max() + 3, 0, IMAGE_SIZE))
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shifted = np.asarray(poly, np.float64)
    m = pt.m.copy()
    m[:, 2] -= (x0, y0)
    cv2.fillPoly(mask, [np.round((shifted @ m[:, :2].T + m[:, 2]) * _ONE).astype(np.int32)], 255,
                 cv2.LINE_AA, _SHIFT)
    alpha = mask[..., None].astype(np.float32) * np.float32(1.0 / 255.0)
    img[y0:y1, x0:x1] += (layer[y0:y1, x0:x1] - img[y0:y1, x0:x1]) * alpha


def render_face(identity: Identity, levels, pose=(0.0, 1.0, 0.0, 0.0), gaze=(0.0, 0.0),
                light=(0.0, 1.0, 1.0), rng: Optional[np.random.Generator] = None,
                noise: float = 2.0) -> Tuple[np.ndarray, np.ndarray]:
    """Renders one face. Returns (RGB uint8 [256, 256, 3], landmarks float32 [68, 2] posed)."""
    levels = np.asarray(levels, np.float32)
    if levels.shape != (len(AUS),):
        raise ValueError(f"levels must have shape [{len(AUS)}] (AUs {AUS}), got {levels.shape}")
    rng = rng if rng is not None else np.random.default_rng(0)
    au = functools.partial(_lv, levels)
    neutral = identity.shape.astype(np.float64)
    p = deform(identity.shape, levels).astype(np.float64)
    d = _eye_distance(neutral)
    m = pose_matrix(pose)
    img = _background(identity)
    pt = _Painter(img, m)
    skin = identity.skin.astype(np.float64)
    cx = float(neutral[27, 0])

    def shade(k):
        """Skin darkened by factor k (0..1)."""
        return skin * (1.0 - k)

    # --- head, neck, shoulders, ears, hair back -------------------------------------------
    jaw = p[JAW]
    top_y = float(neutral[17:27, 1].min() - 1.15 * d)
    head_cy = float(neutral[0, 1])
    head_a = (neutral[16, 0] - neutral[0, 0]) / 2.0 * 1.02
    head_top = _ellipse((cx, head_cy), (head_a, head_cy - top_y), 0, 40, 180, 360)
    neck_w = 0.55 * d
    chin_y = float(p[8, 1])
    neck = np.array([[cx - neck_w, neutral[5, 1]], [cx + neck_w, neutral[5, 1]],
                     [cx + neck_w * 1.05, 300], [cx - neck_w * 1.05, 300]])
    shoulders = np.array([[cx - 2.6 * d, 330], [cx - 2.2 * d, neutral[8, 1] + 0.55 * d],
                          [cx - neck_w, neutral[8, 1] + 0.35 * d], [cx + neck_w, neutral[8, 1] + 0.35 * d],
                          [cx + 2.2 * d, neutral[8, 1] + 0.55 * d], [cx + 2.6 * d, 330]])
    if identity.hair_style == 1:  # long hair behind the head
        back = np.concatenate([_ellipse((cx, head_cy), (head_a * 1.12, head_cy - top_y + 6), 0, 30, 180, 360),
                               [[cx + head_a * 1.15, neutral[8, 1] + 0.3 * d],
                                [cx - head_a * 1.15, neutral[8, 1] + 0.3 * d]]], 0)
        pt.fill(back, identity.hair * 0.9)
    pt.fill(neck, shade(0.18))
    pt.fill(shoulders, identity.shirt)
    for side in (-1, 1):
        ear_c = (cx + side * head_a * 1.0, neutral[0, 1] + 0.25 * d)
        pt.fill(_ellipse(ear_c, (0.16 * d, 0.38 * d), 0, 20), shade(0.1))
        pt.fill(_ellipse((ear_c[0] - side * 0.02 * d, ear_c[1]), (0.07 * d, 0.22 * d), 0, 16), shade(0.28))
    face = np.concatenate([_curve(jaw, 6), head_top[::-1][1:-1]], 0)
    pt.fill(face, skin)
    # Hair on top of the head (the hairline stays above the forehead AU regions). Style 2 is
    # close-cropped: a higher hairline and a stubble tint instead of hair colour.
    brow_line = float(neutral[17:27, 1].min())
    cropped = identity.hair_style == 2
    hl = brow_line - (0.62 if cropped else 0.5) * d
    tilt = 0.08 * d if identity.hair_style == 3 else 0.0
    temple = float(neutral[0, 1]) - (0.3 if cropped else 0.1) * d
    xs = np.linspace(-1.0, 1.0, 15)
    hairline = np.stack([cx + xs * head_a * 1.01,
                         hl + (temple - hl) * np.abs(xs) ** 4 + tilt * xs], 1)
    crown = _ellipse((cx, head_cy), (head_a * 1.03, head_cy - top_y + 4), 0, 30, 360, 180)
    hair_colour = skin * 0.6 + identity.hair * 0.4 if cropped else identity.hair
    pt.fill(np.concatenate([hairline, crown], 0), hair_colour)

    # --- soft shading layer (128 = unchanged) ----------------------------------------------
    soft = np.full((IMAGE_SIZE, IMAGE_SIZE), 128, np.uint8)
    # Jaw-line shadow and the neck under the chin.
    pt.fill(_ellipse((cx, chin_y + 0.1 * d), (0.7 * d, 0.18 * d), 0, 24), 85, soft)
    for side in (-1, 1):
        # cheekbone highlight, lifted by AU6 / AU12 (cheek raise)
        lift = (0.05 * au(6) + 0.025 * au(12)) * d
        cc = (cx + side * 0.72 * d, neutral[41, 1] + 0.75 * d - lift)
        pt.fill(_ellipse(cc, (0.26 * d, 0.16 * d + 0.012 * d * au(6)), 0, 20),
                133 + 6 * au(6), soft)
        # nose side shadows
        pt.fill(_ellipse((cx + side * 0.14 * d, neutral[29, 1]), (0.05 * d, 0.3 * d), 0, 16), 112, soft)
        # AU15: shadow under the lowered corner; AU20: shadow of the stretched cheek
        corner = p[48 if side < 0 else 54]
        if au(15) > 0:
            pt.fill(_ellipse(corner + np.array([side * 0.06 * d, 0.14 * d]), (0.1 * d, 0.1 * d), 0, 16),
                    128 - 6 * au(15), soft)
        if au(20) > 0:
            pt.fill(_ellipse(corner + np.array([side * 0.16 * d, 0.0]), (0.08 * d, 0.16 * d), 0, 16),
                    128 - 6 * au(20), soft)
        # AU17: chin boss bulge (highlight centre, shadow rim)
        if au(17) > 0:
            cb = (cx + side * 0.15 * d, p[8, 1] - 0.28 * d)
            pt.fill(_ellipse(cb, (0.16 * d, 0.12 * d), 0, 16), 128 + 6 * au(17), soft)
        # AU24: bulges above and below the pressed lips
        if au(24) > 0:
            pt.fill(_ellipse((cx + side * 0.2 * d, p[51, 1] - 0.12 * d), (0.16 * d, 0.06 * d), 0, 16),
                    128 + 5 * au(24), soft)
            pt.fill(_ellipse((cx + side * 0.18 * d, p[57, 1] + 0.12 * d), (0.15 * d, 0.06 * d), 0, 16),
                    128 - 7 * au(24), soft)
    # Nasolabial fold shadow (soft side), deepened by AU10 (most), AU9, AU12, AU6.
    naso = 0.25 + 0.18 * au(10) + 0.1 * au(9) + 0.08 * au(12) + 0.05 * au(6)
    for side, wing, corner in ((-1, 31, 48), (1, 35, 54)):
        a0 = p[wing] + np.array([side * 0.08 * d, -0.05 * d])
        a2 = p[corner] + np.array([side * 0.12 * d, 0.1 * d])
        a1 = (a0 + a2) / 2 + np.array([side * 0.1 * d, 0])
        pt.stroke(_curve([a0, a1, a2], 6), np.linspace(0.05, 0.12, 13) * d, 128 - 10 * naso, soft)
    # Blur at quarter resolution (the layer is smooth anyway): a fraction of the cost.
    q = IMAGE_SIZE // 4
    small = cv2.resize(soft, (q, q), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 0.06 * d * pt.scale / 4.0)
    soft = cv2.resize(small, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)

    # --- wrinkles, furrows and folds (sharp, drawn on the skin) ---------------------------
    age = identity.age_lines
    # Forehead lines sit evenly between the (raised) brows and the hairline / image top.
    inner_top = min(float(p[21, 1]), float(p[22, 1]))
    outer_top = min(float(p[18, 1]), float(p[25, 1]))
    hair_y = float(neutral[17:27, 1].min()) - 0.5 * d
    top = max(hair_y, 2.0) + 0.04 * d
    # AU1: horizontal lines in the centre of the forehead; AU2: arcs above the outer brows.
    a1, a2 = au(1), au(2)
    for k, frac in enumerate((0.25, 0.55, 0.82)):
        strength1 = 0.07 * a1 + age
        if strength1 > 0.02:
            yk = inner_top - 0.06 * d - frac * max(inner_top - 0.06 * d - top, 0.1 * d)
            half = (0.2 + 0.04 * a1) * d
            xs = np.linspace(cx - half, cx + half, 9)
            ys = yk + 0.03 * d * np.cos((xs - cx) / half * 1.4)
            pt.stroke(np.stack([xs, ys], 1), 0.035 * d * np.sin(np.linspace(0.2, np.pi - 0.2, 9)),
                      shade(min(0.5, strength1)))
        strength2 = 0.07 * a2 + age * 0.7
        if strength2 > 0.02:
            yk = outer_top - 0.06 * d - frac * max(outer_top - 0.06 * d - top, 0.1 * d)
            for side in (-1, 1):
                x0 = cx + side * (0.3 * d)
                x1 = cx + side * (0.8 * d)
                xs = np.linspace(x0, x1, 8)
                rel = (xs - x0) / (x1 - x0)
                ys = yk - 0.04 * d * np.sin(rel * np.pi) + 0.04 * d * rel
                pt.stroke(np.stack([xs, ys], 1), 0.033 * d * np.sin(np.linspace(0.2, np.pi - 0.2, 8)),
                          shade(min(0.5, strength2)))
    # AU4: vertical furrows between the brows (glabellar lines) + a short horizontal over the nose.
    a4 = au(4)
    if a4 > 0:
        gx = (p[21, 0] + p[22, 0]) / 2
        for side in (-1, 1):
            x = gx + side * (0.055 + 0.006 * (5 - a4)) * d
            y0 = min(p[21, 1], p[22, 1]) - (0.1 + 0.03 * a4) * d
            y1 = neutral[27, 1] + 0.05 * d
            pts = np.array([[x - side * 0.01 * d, y0], [x, (y0 + y1) / 2], [x + side * 0.03 * d, y1]])
            pt.stroke(_curve(pts, 5), np.array([0.3, 0.9, 1.0, 0.9, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3, 0.2]) * 0.055 * d,
                      shade(min(0.55, 0.11 * a4)))
        yb = neutral[27, 1] + 0.08 * d
        pt.stroke(np.array([[gx - 0.1 * d, yb], [gx, yb - 0.015 * d], [gx + 0.1 * d, yb]]),
                  np.array([0.2, 0.9, 0.2]) * 0.04 * d, shade(min(0.4, 0.07 * a4)))
    # AU6: crow's feet fanning from the outer eye corners + a furrow under the lower lid.
    a6 = au(6)
    for side, corner, lower in ((-1, 36, (41, 40)), (1, 45, (46, 47))):
        if a6 + age > 0.02:
            k = min(0.6, 0.12 * a6 + age)
            for ang in (-28, -5, 20):
                r = np.deg2rad(ang)
                length = (0.12 + 0.03 * a6) * d
                start = p[corner] + np.array([side * 0.07 * d, 0])
                end = start + length * np.array([side * np.cos(r), np.sin(r)])
                pt.stroke(np.stack([start, (start + end) / 2 + np.array([0, -0.01 * d]), end]),
                          np.array([0.6, 1.0, 0.2]) * (0.04 + 0.004 * a6) * d, shade(k))
        if a6 > 0:
            lid = p[list(lower)].mean(0)
            xs = np.linspace(-0.25, 0.25, 7) * d + lid[0]
            ys = lid[1] + (0.16 - 0.006 * a6) * d + 0.5 * ((xs - lid[0]) / d) ** 2 * d
            pt.stroke(np.stack([xs, ys], 1), 0.035 * d * np.sin(np.linspace(0.2, np.pi - 0.2, 7)),
                      shade(min(0.5, 0.09 * a6)))
    # AU7: tension line along the lower lid (lid bulge).
    a7 = au(7)
    if a7 > 0:
        for lower, c0, c1 in (((41, 40), 36, 39), ((47, 46), 42, 45)):
            mid = p[list(lower)]
            line = np.array([p[c0] + (0, 0.04 * d), mid[0] + (0, 0.07 * d), mid[1] + (0, 0.07 * d),
                             p[c1] + (0, 0.04 * d)])
            pt.stroke(_curve(line, 4), np.array([0.2] + [1.0] * 8 + [0.2]) * 0.04 * d,
                      shade(min(0.45, 0.08 * a7)))
    # AU9: wrinkles across the nose root and bridge.
    a9 = au(9)
    if a9 > 0:
        for k in range(3):
            y = neutral[27, 1] + (0.12 + 0.11 * k) * d
            half = (0.13 + 0.02 * a9) * d
            xs = np.linspace(cx - half, cx + half, 7)
            ys = y + 0.06 * d * np.abs((xs - cx) / half) - 0.04 * d
            pt.stroke(np.stack([xs, ys], 1), np.array([0.2, 0.7, 1, 1, 1, 0.7, 0.2]) * 0.04 * d,
                      shade(min(0.55, 0.1 * a9)))
    # Nasolabial fold line (sharp crease), deepened as above.
    for side, wing, corner in ((-1, 31, 48), (1, 35, 54)):
        a0 = p[wing] + np.array([side * 0.05 * d, -0.03 * d])
        a2 = p[corner] + np.array([side * 0.1 * d, 0.12 * d])
        a1 = (a0 + a2) / 2 + np.array([side * (0.07 + 0.01 * au(12)) * d, 0])
        k = min(0.5, 0.06 + 0.08 * au(10) + 0.04 * au(9) + 0.03 * au(12) + 0.02 * au(6) + age)
        pt.stroke(_curve([a0, a1, a2], 6), np.linspace(0.03, 0.012, 13) * d * (1 + 0.1 * au(10)),
                  shade(k))
    # AU14: dimples lateral to the lip corners.
    a14 = au(14)
    if a14 > 0:
        for side, corner in ((-1, 48), (1, 54)):
            c = p[corner] + np.array([side * 0.1 * d, -0.01 * d])
            arc = _ellipse(c, ((0.03 + 0.006 * a14) * d, (0.05 + 0.012 * a14) * d), 0, 8, 90 + side * 80, 270 + side * 80)
            pt.stroke(arc if side > 0 else arc[::-1], np.array([0.2, 0.6, 1, 1, 1, 1, 0.6, 0.2]) * (0.02 + 0.006 * a14) * d,
                      shade(min(0.55, 0.11 * a14)))
    # AU15: short oblique lines below the lip corners; AU20: vertical stretch lines at the corners.
    a15, a20 = au(15), au(20)
    for side, corner in ((-1, 48), (1, 54)):
        if a15 > 0:  # depressor lines running down and out from the corners
            s = p[corner] + np.array([side * 0.03 * d, 0.05 * d])
            e = s + np.array([side * 0.08 * d, (0.14 + 0.03 * a15) * d])
            pt.stroke(np.stack([s, (s + e) / 2 + np.array([side * 0.015 * d, 0]), e]),
                      np.array([0.4, 1.0, 0.3]) * (0.04 + 0.005 * a15) * d,
                      shade(min(0.6, 0.12 * a15)))
        if a20 > 0:  # stretch folds lateral of the corners
            s = p[corner] + np.array([side * 0.1 * d, -0.1 * d])
            e = s + np.array([side * 0.03 * d, (0.2 + 0.025 * a20) * d])
            pt.stroke(np.stack([s, (s + e) / 2 + np.array([side * 0.025 * d, 0]), e]),
                      np.array([0.3, 1.0, 0.3]) * (0.04 + 0.005 * a20) * d,
                      shade(min(0.6, 0.12 * a20)))
    # AU17: mentolabial furrow and chin dimpling.
    a17 = au(17)
    if a17 > 0:
        y = (p[57, 1] + p[8, 1]) / 2 - 0.05 * d
        xs = np.linspace(cx - 0.22 * d, cx + 0.22 * d, 7)
        ys = y + 0.15 * d * ((xs - cx) / d) ** 2 * 4 - 0.02 * a17 * d * 0.3
        pt.stroke(np.stack([xs, ys], 1), np.array([0.2, 0.6, 1, 1, 1, 0.6, 0.2]) * 0.045 * d,
                  shade(min(0.5, 0.09 * a17)))
        dots = _rng(identity.index, 99).uniform(-1, 1, (10, 2))
        chin_c = np.array([cx, p[8, 1] - 0.24 * d])
        for dx, dy in dots:
            c = chin_c + np.array([dx * 0.18, dy * 0.08]) * d
            pt.fill(_ellipse(c, (0.018 * d, 0.014 * d), 0, 8), shade(min(0.25, 0.045 * a17)))

    # --- brows --------------------------------------------------------------------------------
    for brow in (BROW_L[::-1], BROW_R):  # inner end first
        curve = _curve(p[brow], 5)
        n = len(curve)
        thick = identity.brow_thickness * d
        widths = thick * np.concatenate([np.linspace(0.7, 1.0, 3), np.linspace(1.0, 0.35, n - 3)])
        pt.stroke(curve, widths, identity.brow)

    # --- eyes ---------------------------------------------------------------------------------
    for eye in (EYE_L, EYE_R):
        e = p[eye]
        outline = np.concatenate([_curve(e[[0, 1, 2, 3]], 6), _curve(e[[3, 4, 5, 0]], 6)[1:-1]], 0)
        # lid crease above the upper lid (moves up/fades with AU5)
        crease = _curve(e[[0, 1, 2, 3]] + np.array([0, -(0.09 - 0.006 * au(5)) * d]), 5)
        pt.stroke(crease, np.linspace(0.3, 1, len(crease)) * 0.025 * d, shade(0.25))
        # the eye white
        pt.fill(outline, (235, 232, 228))
        width = float(np.linalg.norm(e[3] - e[0]))
        centre = (neutral[eye][[0, 3]].mean(0) + np.asarray(gaze, np.float64) * width * np.array([1.0, 0.5]))
        iris_r = 0.21 * width
        tmp = pt.image.copy()
        pt.image = tmp
        pt.fill(_ellipse(centre, (iris_r, iris_r), 0, 28), identity.iris)
        pt.fill(_ellipse(centre, (iris_r * 0.45, iris_r * 0.45), 0, 20), (15, 12, 12))
        pt.fill(_ellipse(centre + np.array([-0.3, -0.35]) * iris_r, (iris_r * 0.18, iris_r * 0.18), 0, 10),
                (250, 250, 250))
        pt.image = img
        _composite(pt, img, tmp, outline)
        # upper lid with lashes (thick, dark), lower lid (thin)
        upper = _curve(e[[0, 1, 2, 3]], 6)
        pt.stroke(upper, np.concatenate([np.linspace(0.5, 1.0, 9), np.linspace(1.0, 0.4, len(upper) - 9)])
                  * 0.05 * d, (35, 25, 22))
        lower = _curve(e[[3, 4, 5, 0]], 6)
        pt.stroke(lower, (0.018 + 0.003 * au(7)) * d, shade(0.45 + 0.03 * au(7)))

    # --- nose ---------------------------------------------------------------------------------
    for side, (wing, nost) in ((-1, (31, 32)), (1, (35, 34))):
        wing_c = p[wing] + np.array([side * 0.02 * d, -0.05 * d])
        arc = _ellipse(wing_c, (0.085 * d, 0.1 * d), 0, 9, 100 if side < 0 else -100, 260 if side < 0 else 80)
        pt.stroke(arc, np.array([0.2, 0.5, 0.8, 1, 1, 1, 0.8, 0.5, 0.2]) * 0.022 * d, shade(0.22))
        nc = (p[nost] + p[33]) / 2 + np.array([side * 0.02 * d, -0.015 * d])
        pt.fill(_ellipse(nc, (0.06 * d, 0.03 * d), side * 15, 14), shade(0.6))
    pt.fill(_ellipse(p[30] + np.array([0, -0.02 * d]), (0.07 * d, 0.05 * d), 0, 14), skin * 1.06)

    # --- mouth --------------------------------------------------------------------------------
    outer = p[MOUTH_OUT]
    inner = p[MOUTH_IN]
    fullness = identity.lip_fullness
    # lip thickness variation: push the outer contour away from the inner one
    for o, i in ((50, 61), (51, 62), (52, 63)):
        outer[o - 48] = inner[i - 60] + (outer[o - 48] - inner[i - 60]) * fullness
    for o, i in ((56, 65), (57, 66), (58, 67)):
        outer[o - 48] = inner[i - 60] + (outer[o - 48] - inner[i - 60]) * fullness
    upper_out = _curve(outer[[0, 1, 2, 3, 4, 5, 6]], 5)
    lower_out = _curve(outer[[6, 7, 8, 9, 10, 11, 0]], 5)
    lips_poly = np.concatenate([upper_out, lower_out[1:-1]], 0)
    a23 = au(23)
    lip_colour = identity.lips * (1 - 0.06 * a23) + skin * 0.06 * a23  # tightened lips pale
    pt.fill(lips_poly, lip_colour)
    upper_in = _curve(np.concatenate([outer[[0]], inner[[1, 2, 3]], outer[[6]]]), 5)
    lower_in = _curve(np.concatenate([outer[[6]], inner[[5, 6, 7]], outer[[0]]]), 5)
    gap = float(np.mean(inner[[5, 6, 7], 1] - inner[[1, 2, 3], 1]))
    if gap > 0.5:
        mouth_poly = np.concatenate([upper_in, lower_in[1:-1]], 0)
        tmp = img.copy()
        pt.image = tmp
        pt.fill(mouth_poly, (45, 18, 22))
        teeth_h = 0.09 * d
        teeth = np.concatenate([upper_in, (upper_in + np.array([0, teeth_h]))[::-1]], 0)
        pt.fill(teeth, (236, 232, 218))
        lower_teeth = np.concatenate([lower_in, (lower_in - np.array([0, 0.05 * d]))[::-1]], 0)
        pt.fill(lower_teeth, (210, 205, 190))
        pt.image = img
        _composite(pt, img, tmp, mouth_poly)
    # line between the lips (always), darker with pressing (AU24) / tightening (AU23)
    seam = _curve(np.concatenate([outer[[0]], inner[[1, 2, 3]], outer[[6]]]), 5)
    pt.stroke(seam, np.concatenate([np.linspace(0.3, 1, 10), np.ones(len(seam) - 20), np.linspace(1, 0.3, 10)])
              * (0.028 + 0.003 * au(24)) * d, identity.lips * (0.45 - 0.03 * au(24) - 0.02 * au(23)))
    if gap > 0.5:
        pt.stroke(lower_in, 0.02 * d, identity.lips * 0.5)
    # AU23: fine vertical wrinkles across the tightened lips
    if a23 > 0:
        for k in np.linspace(-0.6, 0.6, 6):
            for top, bottom in (((49, 50, 51, 52, 53), (61, 62, 63)), ((59, 58, 57, 56, 55), (67, 66, 65))):
                xo = np.interp(k, [-1, 1], [outer[top[0] - 48, 0], outer[top[-1] - 48, 0]])
                yo = np.interp(xo, *zip(*sorted(zip(outer[[t - 48 for t in top], 0], outer[[t - 48 for t in top], 1]))))
                yi = np.interp(xo, *zip(*sorted(zip(inner[[b - 60 for b in bottom], 0], inner[[b - 60 for b in bottom], 1]))))
                seg = np.array([[xo, yo + 0.25 * (yi - yo)], [xo + 0.005 * d, yo + 0.8 * (yi - yo)]])
                pt.stroke(seg, np.array([0.6, 1.0]) * 0.018 * d, lip_colour * (1 - min(0.5, 0.09 * a23)))
    # upper-lip border highlight
    pt.stroke(upper_out, np.full(len(upper_out), 0.018 * d), skin * (1.08 + 0.01 * au(23)))

    # --- lighting, soft shading, sensor noise ------------------------------------------------
    light_angle = identity.light_angle + float(light[0])
    strength = identity.light_strength * float(light[1])
    ambient = identity.ambient * float(light[2])
    g = np.linspace(-1.0, 1.0, IMAGE_SIZE, dtype=np.float32)
    gx = np.cos(light_angle) * g[None, :]
    gy = np.sin(light_angle) * g[:, None]
    gain = (ambient / 128.0) * (1.0 + strength * (gx + gy)) * soft
    out = img * gain[..., None]
    if noise > 0:  # sensor noise: a random window of a fixed noise bank (fast, deterministic)
        bank = _noise_bank()
        oy, ox = rng.integers(0, bank.shape[0] - IMAGE_SIZE, 2)
        out += bank[oy:oy + IMAGE_SIZE, ox:ox + IMAGE_SIZE] * np.float32(noise)
    image = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    landmarks = pt.tf(p).astype(np.float32)
    return image, landmarks


# ----------------------------------------------------------------------------------------------
# Frames
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Frame:
    identity: int
    sequence: int
    frame: int
    image: np.ndarray        # uint8 [256, 256, 3] RGB
    landmarks: np.ndarray    # float32 [68, 2], posed, 256 frame
    levels: np.ndarray       # int32 [len(AUS)] rendered integer intensities (the labels)
    intensities: np.ndarray  # float32 [len(AUS)] continuous trajectory value before rounding


def subject_name(identity: int) -> str:
    return f"S{identity + 1:03d}"


def sequence_name(sequence: int) -> str:
    return f"Q{sequence + 1:02d}"


def _render_plan_frame(plan: SequencePlan, frame: int, seed: int) -> Frame:
    identity = make_identity(plan.identity, seed)
    rng = _rng(seed, 3, plan.identity, plan.sequence, frame)
    image, landmarks = render_face(identity, plan.levels[frame], plan.poses[frame],
                                   plan.gaze[frame], plan.light, rng)
    return Frame(plan.identity, plan.sequence, frame, image, landmarks,
                 plan.levels[frame].copy(), plan.intensities[frame].copy())


def render_frame(identity: int, sequence: int, frame: int, n_frames: int, seed: int = 0) -> Frame:
    """Frame ``frame`` of sequence ``sequence`` of ``identity`` (sequences have ``n_frames``)."""
    if not 0 <= frame < n_frames:
        raise ValueError(f"frame {frame} outside [0, {n_frames})")
    return _render_plan_frame(sequence_plan(identity, sequence, n_frames, seed), frame, seed)


def iter_sequence(identity: int, sequence: int, n_frames: int, seed: int = 0) -> Iterator[Frame]:
    plan = sequence_plan(identity, sequence, n_frames, seed)
    for f in range(n_frames):
        yield _render_plan_frame(plan, f, seed)
