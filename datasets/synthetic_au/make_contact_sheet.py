"""Writes a contact sheet of synthetic_au frames with their nonzero AU levels printed.

  python datasets/synthetic_au/make_contact_sheet.py            # -> datasets/synthetic_au/contact_sheet.png
  python datasets/synthetic_au/make_contact_sheet.py --mode aus # one row per AU, levels 0..5
  python datasets/synthetic_au/make_contact_sheet.py --landmarks --out /tmp/sheet.png
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

try:  # run as a script from the repository, or imported as tfau_datasets.synthetic_au
    from tfau_datasets.synthetic_au import render
except ImportError:  # pragma: no cover
    import render  # type: ignore

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "contact_sheet.png")


def _caption(tile: np.ndarray, lines, scale: float = 0.36) -> np.ndarray:
    h, w = tile.shape[:2]
    band = np.full((14 * len(lines) + 4, w, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(band, text, (3, 12 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([tile, band], 0)


def _tile(image, landmarks, lines, size, show_landmarks):
    tile = image.copy()
    if show_landmarks:
        for x, y in landmarks:
            cv2.circle(tile, (int(round(x)), int(round(y))), 1, (0, 255, 0), -1, cv2.LINE_AA)
    tile = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
    return _caption(tile, lines)


def _au_text(levels):
    items = [f"{au}:{int(v)}" for au, v in zip(render.AUS, levels) if v > 0]
    if not items:
        return ["neutral"]
    lines, line = [], ""
    for it in items:
        if len(line) + len(it) + 1 > 26:
            lines.append(line)
            line = ""
        line = (line + " " + it).strip()
    lines.append(line)
    return lines


def sample_sheet(n_rows=6, n_cols=8, size=144, seed=0, n_frames=10, show_landmarks=False):
    """Random frames of distinct identities, with their AU levels."""
    rng = np.random.default_rng(seed + 7)
    tiles = []
    for k in range(n_rows * n_cols):
        identity = k
        sequence = int(rng.integers(0, 8))
        plan = render.sequence_plan(identity, sequence, n_frames, seed)
        # prefer the most expressive frame of the sequence
        frame = int(np.argmax(plan.levels.sum(1))) if rng.uniform() < 0.8 else int(rng.integers(n_frames))
        fr = render.render_frame(identity, sequence, frame, n_frames, seed)
        lines = [f"{render.subject_name(identity)} {'+'.join(plan.expressions)}"[:30]] + _au_text(fr.levels)
        tiles.append(_tile(fr.image, fr.landmarks, lines[:3], size, show_landmarks))
    return _grid(tiles, n_cols)


def au_sheet(size=96, identity=3, show_landmarks=False):
    """One row per AU: the same face at levels 0..5 of that AU alone."""
    ident = render.make_identity(identity)
    rows = []
    for au in render.AUS:
        tiles = []
        for level in range(0, 6):
            levels = np.zeros(len(render.AUS), np.float32)
            levels[render.AU_COLUMN[au]] = level
            image, lm = render.render_face(ident, levels, noise=0.0)
            tiles.append(_tile(image, lm, [f"AU{au} = {level}"], size, show_landmarks))
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)


def _grid(tiles, n_cols):
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    rows = [np.concatenate(tiles[i:i + n_cols], 1) for i in range(0, len(tiles), n_cols)]
    return np.concatenate(rows, 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--mode", choices=("samples", "aus"), default="samples")
    parser.add_argument("--landmarks", action="store_true")
    parser.add_argument("--identity", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.mode == "samples":
        sheet = sample_sheet(seed=args.seed, show_landmarks=args.landmarks)
        out = args.out or DEFAULT_OUT
    else:
        sheet = au_sheet(identity=args.identity, show_landmarks=args.landmarks)
        out = args.out or os.path.join(HERE, "au_sheet.png")
    cv2.imwrite(out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
