"""Pictures of tfau's results: per-face figures, AU time series, evaluation bars, overlays.

Figures use matplotlib (``pip install tfau[plot]``; imported on first use, Agg backend when no
display is set); overlays (annotated frames and videos, fast enough for every frame of a video)
use OpenCV.

    import tfau, tfau.plots as plots
    df = tfau.Detector(model).detect("clip.mp4")
    plots.save(plots.au_timeseries(df), "clip_aus.png")
    plots.save(plots.face_figure(frame, df.iloc[0]), "face.png")
    plots.save(plots.evaluation_figure(results, au_names), "eval.png")   # tfau evaluate's dict

The same from the command line: ``tfau predict ... --plot`` (a face figure per image, a time
series per video or folder), ``tfau predict ... --overlay`` (annotated frames, one video per
video input), ``tfau plot CSV`` and ``tfau evaluate`` (writes its per-AU figure).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

__all__ = ["face_figure", "au_timeseries", "evaluation_figure", "save", "annotate_frame",
           "OverlayWriter", "channel_aus", "au_names_of", "task_of"]


def _plt():
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("tfau.plots needs matplotlib: pip install 'tfau[plot]'") from e
    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _columns(x) -> list:
    """Column names of a DataFrame, a row (Series or dict) or a list of names."""
    if hasattr(x, "columns"):
        return [str(c) for c in x.columns]
    if hasattr(x, "keys"):
        return [str(c) for c in x.keys()]
    return [str(c) for c in x]


def au_names_of(df_or_row) -> list:
    """AU names present in a results table or row (from its ``AUxx_r`` / ``AUxx_p`` columns)."""
    names = [c[:-2] for c in _columns(df_or_row) if c.startswith("AU") and c.endswith(("_r", "_p"))]
    return list(dict.fromkeys(names))


def task_of(df_or_row) -> str:
    """``intensity`` when the table has ``AUxx_r`` columns, else ``occurrence``."""
    return "intensity" if any(c.endswith("_r") for c in _columns(df_or_row)) else "occurrence"


def _value_col(name: str, task: str) -> str:
    return f"{name}_r" if task == "intensity" else f"{name}_p"


def save(fig, path: str, dpi: int = 110) -> str:
    """Saves a figure as ``path`` (written under a temporary name, then renamed); closes it."""
    plt = _plt()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ext = os.path.splitext(path)[1].lstrip(".") or "png"
    tmp = os.path.join(folder, f".{os.path.basename(path)}.part-{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ------------------------------------------------------------------------------------------------
# Figures (matplotlib)


def face_figure(image, row, au_names: Optional[Sequence[str]] = None,
                task: Optional[str] = None, title: Optional[str] = None):
    """The frame with the face box and 68 landmarks, beside per-AU bars with names and values.

    ``row``: one row of a results table (a pandas Series or a dict with the CSV's columns).
    """
    from tfau import aus as aus_lib

    plt = _plt()
    row = dict(row)
    au_names = list(au_names or au_names_of(list(row)))
    task = task or task_of(list(row))
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(11, 4.6),
                                         gridspec_kw={"width_ratios": [1, 1.25]})
    ax_img.imshow(np.asarray(image))
    ax_img.set_axis_off()
    if row.get("success"):
        x, y = float(row["face_x"]), float(row["face_y"])
        w, h = float(row["face_width"]), float(row["face_height"])
        ax_img.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="lime", linewidth=1.5))
        xs = [float(row[f"x_{i}"]) for i in range(68)]
        ys = [float(row[f"y_{i}"]) for i in range(68)]
        ax_img.scatter(xs, ys, s=4, c="red")
        ax_img.set_xlim(x - 0.35 * w, x + 1.35 * w)
        ax_img.set_ylim(y + 1.35 * h, y - 0.35 * h)
        ax_img.set_title(f"face {int(row.get('face_id', 0))}, confidence "
                         f"{float(row.get('confidence', float('nan'))):.2f}")
    vals = [float(row.get(_value_col(n, task), float("nan"))) for n in au_names]
    labels = [f"{n} {aus_lib.FACS_NAMES.get(int(n[2:]), '')}" if n[2:].isdigit() else n
              for n in au_names]
    ypos = np.arange(len(au_names))[::-1]
    ax_bar.barh(ypos, np.nan_to_num(vals), color="tab:blue")
    for yp, v in zip(ypos, vals):
        ax_bar.text((0 if np.isnan(v) else v) + 0.03, yp, "-" if np.isnan(v) else f"{v:.2f}",
                    va="center", fontsize=8)
    ax_bar.set_yticks(ypos, labels, fontsize=8)
    ax_bar.set_xlim(0, 5.4 if task == "intensity" else 1.1)
    ax_bar.set_xlabel("intensity (0-5)" if task == "intensity" else "occurrence probability")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def au_timeseries(df, au_names: Optional[Sequence[str]] = None, task: Optional[str] = None,
                  face_id: Optional[int] = None, title: Optional[str] = None):
    """AU values over time (one panel per face track, one line per AU) from a results table."""
    plt = _plt()
    au_names = list(au_names or au_names_of(df))
    task = task or task_of(df)
    ok = df[df["success"] == 1]
    ids = sorted(ok["face_id"].unique().tolist()) if face_id is None else [int(face_id)]
    ids = ids[:4] or [0]
    fig, axes = plt.subplots(len(ids), 1, figsize=(11, 2.8 * len(ids) + 0.6), squeeze=False,
                             sharex=True)
    use_time = "timestamp" in df and df["timestamp"].max() > 0
    xcol = "timestamp" if use_time else "frame"
    cmap = plt.get_cmap("tab20")
    for ax, fid in zip(axes[:, 0], ids):
        part = ok[ok["face_id"] == fid].sort_values("frame")
        for k, n in enumerate(au_names):
            ax.plot(part[xcol], part[_value_col(n, task)], label=n, color=cmap(k % 20),
                    linewidth=1.2, marker="." if len(part) < 40 else None)
        ax.set_ylabel(f"face {fid}\n" + ("intensity" if task == "intensity" else "probability"))
        ax.set_ylim(-0.1, 5.1 if task == "intensity" else 1.05)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)" if use_time else "frame")
    axes[0, 0].legend(ncol=min(9, len(au_names)), fontsize=7, loc="upper left",
                      bbox_to_anchor=(0, 1.32 if len(ids) == 1 else 1.25), frameon=False)
    if title:
        fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig


def evaluation_figure(results: Mapping[str, Any], au_names: Optional[Sequence[str]] = None,
                      title: Optional[str] = None):
    """Per-AU bars of ``tfau.metrics.evaluate``'s results: ICC and MAE for intensity models,
    F1 (and accuracy when present) for occurrence models; the average as the last bar."""
    plt = _plt()
    metrics = [m for m in ("icc", "mae", "f1") if isinstance(results.get(m), Mapping)]
    if not metrics:
        raise ValueError("results hold no per-AU icc, mae or f1 table")
    au_names = list(au_names or [k for k in results[metrics[0]] if str(k).startswith("AU")])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        names = au_names + ["avg"]
        vals = [results[m].get(n) for n in names]
        vals = [float("nan") if v is None else float(v) for v in vals]
        if m == "f1" and np.nanmax(np.abs(vals) + [0]) <= 1.0:
            vals = [100 * v for v in vals]
        colors = ["tab:blue"] * len(au_names) + ["tab:red"]
        x = np.arange(len(names))
        ax.bar(x, np.nan_to_num(vals), color=colors)
        for xi, v in zip(x, vals):
            ax.text(xi, (0 if np.isnan(v) else max(v, 0)), "-" if np.isnan(v) else
                    (f"{v:.1f}" if m == "f1" else f"{v:.2f}"), ha="center", va="bottom",
                    fontsize=7)
        ax.set_xticks(x, names, rotation=60, fontsize=8)
        ax.set_ylabel({"icc": "ICC(3,1)", "mae": "MAE", "f1": "F1 (%)"}[m])
        if m == "icc":
            ax.set_ylim(min(0.0, np.nanmin(vals + [0]) - 0.05), 1.05)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# Overlays (OpenCV)


def channel_aus(n_channels: int, metadata: Mapping[str, Any]) -> Optional[np.ndarray]:
    """Index of the AU each map channel belongs to, or None when unknown.

    Occurrence maps (ROI-GCN) have one channel per AU; intensity heatmaps have the protocol's
    heatmap points (``tfau.geometry.heatmap_spec``: 2 per AU, DISFA AU4 1 and AU9 3).
    """
    n_aus = len(metadata["au_names"])
    if n_channels == n_aus:
        return np.arange(n_aus)
    try:
        from tfau import geometry

        spec = geometry.heatmap_spec(metadata["protocol"])
        if spec.n_points == n_channels:
            return np.asarray(spec.point_au)
    except Exception:  # noqa: BLE001 - unknown protocol: no labels
        pass
    return None


def _face_layers(item, frame_shape, metadata, task, au_names, aligned_size):
    """(heat [H, W] in 0..1 in the frame, [(AU name, value, (x, y))] labels) of one face."""
    import cv2

    maps = np.maximum(np.asarray(item.maps, np.float32), 0.0)
    owner = channel_aus(maps.shape[-1], metadata)
    scale = 5.0 if task == "intensity" else 1.0
    # The heat shows where the model looks: the face's strongest map is the top of the colour
    # scale (at least a fifth of the output scale, so an all-quiet face stays faint).
    top = max(float(maps.max()), 0.2 * scale)
    heat_aligned = cv2.resize(np.max(maps, axis=-1) / top, (aligned_size, aligned_size),
                              interpolation=cv2.INTER_LINEAR)
    h, w = frame_shape[:2]
    m = np.asarray(item.transform, np.float64)
    heat = cv2.warpAffine(np.clip(heat_aligned, 0, 1), m, (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    labels = []
    if owner is None:
        return heat, labels
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    row = item.row
    ratio = aligned_size / maps.shape[0]
    shown = []
    for a, name in enumerate(au_names):
        value = row.get(_value_col(name, task))
        if value is None or not np.isfinite(value) or value < LABEL_MIN * scale:
            continue
        chans = np.nonzero(owner == a)[0]
        if not len(chans):
            continue
        sub = maps[..., chans].max(axis=-1)
        yy, xx = np.unravel_index(int(np.argmax(sub)), sub.shape)
        pa = np.array([(xx + 0.5) * ratio - 0.5, (yy + 0.5) * ratio - 0.5, 1.0])
        shown.append((float(value), name, tuple(inv @ pa), bool(row.get(f"{name}_c"))))
    for value, name, xy, present in sorted(shown, reverse=True)[:6]:
        labels.append((name, value, xy, present))
    return heat, labels


LABEL_MIN = 0.05
"""Overlays label AUs whose value is at least this fraction of the output scale (0.25 of
intensity 0-5, probability 0.05), strongest first, at most 6 per face; present AUs (``_c = 1``)
in yellow, the others in white."""


def annotate_frame(image, items: Sequence[Any], au_names: Sequence[str], task: str,
                   metadata: Optional[Mapping[str, Any]] = None, aligned_size: int = 256
                   ) -> np.ndarray:
    """The frame (RGB) with, per face: box, face id, landmarks, the model's maps as a heat
    overlay and the present AUs (up to 6, strongest first) labelled at their map peaks with
    their values. ``items``: ``tfau.detector.FaceOutput`` rows of this frame (``keep_faces``)."""
    import cv2

    frame = np.ascontiguousarray(np.asarray(image, np.uint8)).copy()
    h, w = frame.shape[:2]
    heat = np.zeros((h, w), np.float32)
    texts = []
    for item in items:
        row = item.row
        if not row.get("success"):
            continue
        if item.maps is not None and item.transform is not None and metadata is not None:
            layer, labels = _face_layers(item, frame.shape, metadata, task, au_names,
                                         aligned_size)
            heat = np.maximum(heat, layer)
            texts += labels
        x0, y0 = int(row["face_x"]), int(row["face_y"])
        x1, y1 = int(row["face_x"] + row["face_width"]), int(row["face_y"] + row["face_height"])
        texts.append((f"face {int(row['face_id'])} ({row['confidence']:.2f})", None,
                      (x0, y0 - 6), False))
        item._box = (x0, y0, x1, y1)
    if heat.max() > 0:
        color = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET),
                             cv2.COLOR_BGR2RGB)
        # transparent below a tenth of the scale: the face stays visible around the hot spots
        alpha = (0.6 * np.clip((heat - 0.1) / 0.5, 0, 1))[..., None]
        frame = np.clip(frame * (1 - alpha) + color * alpha, 0, 255).astype(np.uint8)
    thick = max(1, round(max(h, w) / 500))
    for item in items:
        row = item.row
        if not row.get("success"):
            continue
        cv2.rectangle(frame, item._box[:2], item._box[2:], (0, 255, 0), thick)
        for i in range(68):
            cv2.circle(frame, (int(round(row[f"x_{i}"])), int(round(row[f"y_{i}"]))), thick,
                       (255, 40, 40), -1)
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, max(h, w) / 1400)
    for name, value, (x, y), present in texts:
        text = name if value is None else f"{name} {value:.2f}" if task != "intensity" \
            else f"{name} {value:.1f}"
        org = (int(x), int(max(12, y)))
        cv2.putText(frame, text, org, font, fs, (0, 0, 0), thick + 1, cv2.LINE_AA)
        cv2.putText(frame, text, org, font, fs, (255, 230, 0) if present else (255, 255, 255),
                    thick, cv2.LINE_AA)
    return frame


def source_image(path: str, kind: str, row: Mapping[str, Any]) -> Optional[np.ndarray]:
    """The frame a row came from (images and folders; None for others)."""
    from tfau import face as face_lib

    try:
        if kind == "image":
            return face_lib.load_image(path)
        if kind == "folder":
            return face_lib.load_image(os.path.join(path, row["file"]))
    except face_lib.ImageReadError:
        return None
    return None


class OverlayWriter:
    """Annotated frames of one input: ``<stem>_overlay.png`` for an image, one annotated video
    ``<stem>_overlay.mp4`` (``.avi`` when no MPEG-4 encoder) for a video, a folder of
    annotated frames ``<stem>_overlay/`` for a folder. Everything is written under a temporary
    name and renamed by :meth:`close`; a write failure raises ``OSError`` naming the file."""

    def __init__(self, stem: str, kind: str, au_names, task, metadata, source: str = ""):
        self.stem, self.kind = stem, kind
        self.au_names, self.task, self.metadata = list(au_names), task, metadata
        self.source = source
        self._frame_no = None
        self._items: list = []
        self._video = None
        self._fps = 25.0
        if kind == "video":
            self.path = stem + "_overlay.mp4"
        elif kind == "folder":
            self.path = stem + "_overlay"
        else:
            self.path = stem + "_overlay.png"
        self._tmp = self._tmp_of(self.path)
        if kind == "folder":
            os.makedirs(self._tmp, exist_ok=True)
        if kind == "video":
            import cv2

            cap = cv2.VideoCapture(source)
            self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
            cap.release()
            self._reader = None

    @staticmethod
    def _tmp_of(path: str) -> str:
        # the extension stays last: OpenCV picks the video container from it
        folder, base = os.path.split(path)
        return os.path.join(folder, f".part-{os.getpid()}-{base}")

    def add(self, item) -> None:
        """Adds one row; a frame is drawn once all its rows are in."""
        number = item.row["frame"]
        if self._frame_no is not None and number != self._frame_no:
            self._emit()
        self._frame_no = number
        self._items.append(item)

    def _frame_image(self, row) -> Optional[np.ndarray]:
        if self.kind == "video":
            import cv2

            if self._reader is None:
                self._reader = cv2.VideoCapture(self.source)
                self._pos = 0
            target = int(row["frame"]) - 1
            if target != self._pos:
                self._reader.set(cv2.CAP_PROP_POS_FRAMES, target)
                self._pos = target
            ok, bgr = self._reader.read()
            self._pos += 1
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None
        return source_image(self.source, self.kind, row)

    def _emit(self) -> None:
        import cv2

        items, self._items = self._items, []
        image = self._frame_image(items[0].row)
        if image is None:
            return
        out = annotate_frame(image, items, self.au_names, self.task, self.metadata)
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        if self.kind == "video":
            if self._video is None:
                h, w = bgr.shape[:2]
                self._video = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"),
                                              self._fps, (w, h))
                if not self._video.isOpened():
                    self.path = self.stem + "_overlay.avi"
                    self._tmp = self._tmp_of(self.path)
                    self._video = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"MJPG"),
                                                  self._fps, (w, h))
                if not self._video.isOpened():
                    raise OSError(f"cannot write the overlay video {self.path}")
            self._video.write(bgr)
            return
        if self.kind == "folder":
            name = os.path.splitext(items[0].row["file"])[0] + ".png"
            target = os.path.join(self._tmp, name)
        else:
            target = self._tmp
        ok, data = cv2.imencode(".png", bgr)
        if not ok:
            raise OSError(f"cannot encode the overlay of {self.path}")
        try:
            with open(target, "wb") as f:
                f.write(data.tobytes())
        except OSError as e:
            raise OSError(e.errno, f"cannot write the overlay {self.path} ({e.strerror})",
                          self.path) from None

    def close(self) -> None:
        if self._items:
            self._emit()
        if self._video is not None:
            self._video.release()
            if not os.path.isfile(self._tmp) or os.path.getsize(self._tmp) == 0:
                raise OSError(f"cannot write the overlay video {self.path}")
        if getattr(self, "_reader", None) is not None:
            self._reader.release()
        if os.path.lexists(self._tmp):
            if os.path.isdir(self.path) and self.kind == "folder":
                import shutil

                shutil.rmtree(self.path)
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._video is not None:
            self._video.release()
        if os.path.isdir(self._tmp):
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
        elif os.path.lexists(self._tmp):
            os.remove(self._tmp)
