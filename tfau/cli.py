"""The ``tfau`` command line.

``tfau predict INPUT... --model saved_models/x --output out/``
    Images, folders of images (one sequence, one CSV) and videos (anything OpenCV reads). Faces
    are detected and aligned (``tfau.face.FaceAligner``), batched through the SavedModel, and one
    OpenFace-style CSV is written per input:
    ``frame, face_id, timestamp, confidence, success, AUxx_r..., AUxx_c...`` for intensity
    models (``_c`` = 1 when the predicted intensity >= ``--presence_threshold``, default 1 = FACS
    trace level A) and ``frame, ..., success, AUxx_c..., AUxx_p...`` for occurrence models
    (``_p`` the probability, ``_c`` = ``_p >= 0.5``). ``frame`` counts from 1, ``face_id`` from
    0, ``timestamp`` is in seconds. A frame without a face is one row with ``success = 0`` and
    empty AU fields. Folder inputs add a ``file`` column. Unreadable inputs are reported and
    skipped; every run ends with a summary (exit status 1 if any input failed).
``tfau evaluate --model M --dataset D --config C --split S``
    The paper-style per-AU table of a SavedModel on a TFDS split, as Markdown + JSON and a
    per-AU bar plot PNG (drawn with OpenCV).
``tfau export --checkpoint RUN_DIR_OR_WEIGHTS --output DIR``
    SavedModel from a training run folder (``run.json`` + ``*.weights.h5``).
``tfau info --model M``
    The metadata recorded in a SavedModel.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".3gp", ".ogv")


# ------------------------------------------------------------------------------------------------
# predict


def _natural_key(name: str):
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def classify_input(path: str) -> str:
    """``folder``, ``video``, ``image`` or ``missing``."""
    if os.path.isdir(path):
        return "folder"
    if not os.path.exists(path):
        return "missing"
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTS:
        return "video"
    return "image"


class InputError(Exception):
    """An input that cannot be read (reported and skipped)."""


def iter_frames(path: str, kind: str) -> Tuple[Optional[int], Iterator[Tuple[int, float, str,
                                                                             np.ndarray]]]:
    """(frame count or None, iterator of (frame number from 1, timestamp s, file, RGB uint8))."""
    if kind == "video":
        import cv2

        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise InputError("OpenCV cannot open it as a video")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise InputError("no frame could be decoded")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None

        def gen():
            frame, n = first, 0
            try:
                while frame is not None:
                    n += 1
                    ts = (n - 1) / fps if fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    yield n, float(ts), "", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    ok, frame = cap.read()
                    if not ok:
                        break
            finally:
                cap.release()

        return total, gen()
    if kind == "folder":
        files = sorted((f for f in os.listdir(path)
                        if f.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(path, f))),
                       key=_natural_key)
        if not files:
            raise InputError("the folder holds no image files")

        def gen():
            for i, name in enumerate(files, 1):
                try:
                    image = _load_image(os.path.join(path, name))
                except InputError:
                    image = None
                yield i, 0.0, name, image

        return len(files), gen()
    image = _load_image(path)
    return 1, iter([(1, 0.0, "", image)])


def _load_image(path: str) -> np.ndarray:
    try:
        from tfau import face as face_lib

        image = face_lib.load_image(path)
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
        raise InputError(f"cannot read image: {e}") from None
    if image is None or getattr(image, "ndim", 0) != 3:
        raise InputError("cannot read image")
    return image


def csv_columns(au_names: Sequence[str], task: str, folder: bool) -> List[str]:
    cols = ["frame"] + (["file"] if folder else []) + ["face_id", "timestamp", "confidence",
                                                       "success"]
    if task == "intensity":
        cols += [f"{n}_r" for n in au_names] + [f"{n}_c" for n in au_names]
    else:
        cols += [f"{n}_c" for n in au_names] + [f"{n}_p" for n in au_names]
    return cols


def au_fields(au: np.ndarray, au_names: Sequence[str], task: str,
              presence_threshold: float) -> Dict[str, str]:
    """The AU cells of one face row."""
    out = {}
    if task == "intensity":
        r = np.clip(au.astype(np.float64), 0.0, 5.0)
        for n, v in zip(au_names, r):
            out[f"{n}_r"] = f"{v:.3f}"
        for n, v in zip(au_names, r):
            out[f"{n}_c"] = "1" if v >= presence_threshold else "0"
    else:
        p = np.clip(au.astype(np.float64), 0.0, 1.0)
        for n, v in zip(au_names, p):
            out[f"{n}_c"] = "1" if v >= 0.5 else "0"
        for n, v in zip(au_names, p):
            out[f"{n}_p"] = f"{v:.4f}"
    return out


def overlay_image(face: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Aligned face (RGB) with the max over map channels as a JET heatmap, RGB uint8."""
    import cv2

    m = np.max(np.maximum(maps.astype(np.float32), 0.0), axis=-1)
    peak = float(m.max())
    m = m / peak if peak > 1e-6 else m
    h, w = face.shape[:2]
    m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    color = cv2.applyColorMap(np.clip(m * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    color = cv2.cvtColor(color, cv2.COLOR_BGR2RGB)
    alpha = (0.6 * m)[..., None]
    return np.clip(face * (1 - alpha) + color * alpha, 0, 255).astype(np.uint8)


class _Stats:
    def __init__(self):
        self.inputs = 0
        self.failed: List[Tuple[str, str]] = []
        self.frames = 0
        self.faces = 0
        self.no_face = 0
        self.csvs: List[str] = []


def _unique_csv(output: str, path: str, used: set) -> str:
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0] or "input"
    name, k = stem, 1
    while name in used:
        k += 1
        name = f"{stem}_{k}"
    used.add(name)
    return os.path.join(output, name + ".csv")


def predict_inputs(inputs: Sequence[str], model: str, output: str, batch_size: int = 32,
                   overlay: bool = False, presence_threshold: float = 1.0,
                   progress: Optional[bool] = None, aligner=None, log=print) -> _Stats:
    """Runs ``tfau predict`` (the CLI and the Python API share this)."""
    from tfau import export as export_lib

    predictor = export_lib.load(model)
    if aligner is None:
        from tfau import face as face_lib

        aligner = face_lib.FaceAligner()
    names, task = predictor.au_names, predictor.task
    os.makedirs(output, exist_ok=True)
    stats = _Stats()
    used: set = set()
    for path in inputs:
        stats.inputs += 1
        kind = classify_input(path)
        if kind == "missing":
            stats.failed.append((path, "no such file or folder"))
            log(f"[tfau] skipped {path}: no such file or folder", file=sys.stderr)
            continue
        try:
            total, frames = iter_frames(path, kind)
        except InputError as e:
            stats.failed.append((path, str(e)))
            log(f"[tfau] skipped {path}: {e}", file=sys.stderr)
            continue
        csv_path = _unique_csv(output, path, used)
        overlay_dir = os.path.splitext(csv_path)[0] + "_overlay" if overlay else None
        if overlay_dir:
            os.makedirs(overlay_dir, exist_ok=True)
        folder = kind == "folder"
        columns = csv_columns(names, task, folder)
        show = progress if progress is not None else (total or 0) > 1
        bar = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=os.path.basename(os.path.normpath(path)), unit="frame",
                       file=sys.stderr, leave=False)
        n_frames_before, n_faces_before = stats.frames, stats.faces
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            pending: List[Tuple[dict, Optional[np.ndarray], Optional[str]]] = []

            def flush():
                faces = [(row, img) for row, img, _ in pending if img is not None]
                if faces:
                    batch = np.stack([img for _, img in faces]).astype(np.uint8)
                    out = {}
                    for start in range(0, len(batch), batch_size):
                        part = predictor.predict(batch[start:start + batch_size])
                        for k, v in part.items():
                            out.setdefault(k, []).append(v)
                    out = {k: np.concatenate(v) for k, v in out.items()}
                    for i, (row, img) in enumerate(faces):
                        row.update(au_fields(out["au"][i], names, task, presence_threshold))
                        if overlay_dir and "maps" in out:
                            _write_overlay(overlay_dir, row, img, out["maps"][i])
                for row, _, _ in pending:
                    writer.writerow(row)
                pending.clear()

            for number, ts, file, image in frames:
                stats.frames += 1
                base = {"frame": number, "timestamp": f"{ts:.3f}"}
                if folder:
                    base["file"] = file
                result = aligner.align(image) if image is not None else None
                faces = list(result.faces) if result is not None and result.success else []
                if not faces:
                    stats.no_face += 1
                    pending.append(({**base, "face_id": 0, "confidence": "0", "success": 0},
                                    None, None))
                for face_id, face in enumerate(faces):
                    stats.faces += 1
                    pending.append(({**base, "face_id": face_id,
                                     "confidence": f"{float(face.confidence):.3f}", "success": 1},
                                    np.asarray(face.image), None))
                if sum(1 for p in pending if p[1] is not None) >= batch_size:
                    flush()
                if bar is not None:
                    bar.update(1)
            flush()
        if bar is not None:
            bar.close()
        stats.csvs.append(csv_path)
        log(f"[tfau] {path}: {stats.frames - n_frames_before} frame(s), "
            f"{stats.faces - n_faces_before} face(s) -> {csv_path}")
    return stats


def _write_overlay(folder: str, row: dict, face: np.ndarray, maps: np.ndarray) -> None:
    import cv2

    img = overlay_image(face, maps)
    name = f"frame{int(row['frame']):06d}_face{int(row['face_id'])}.png"
    cv2.imwrite(os.path.join(folder, name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def cmd_predict(args) -> int:
    if args.batch_size < 1:
        raise SystemExit("--batch_size must be >= 1")
    t0 = time.time()
    stats = predict_inputs(args.inputs, args.model, args.output, batch_size=args.batch_size,
                           overlay=args.overlay, presence_threshold=args.presence_threshold,
                           progress=None if not args.no_progress else False)
    dt = time.time() - t0
    print(f"[tfau] summary: {stats.inputs} input(s), {len(stats.csvs)} CSV(s), "
          f"{stats.frames} frame(s), {stats.faces} face(s), {stats.no_face} frame(s) without a "
          f"face, {len(stats.failed)} failed input(s), {dt:.1f}s -> {args.output}")
    for path, why in stats.failed:
        print(f"[tfau]   failed: {path}: {why}")
    return 1 if stats.failed else 0


# ------------------------------------------------------------------------------------------------
# evaluate


def bar_plot(values: Dict[str, float], title: str, path: str, *, ylabel: str,
             ymax: Optional[float] = None, width: int = 900, height: int = 480) -> str:
    """A per-AU bar chart (plus the average) drawn with OpenCV, saved as PNG."""
    import cv2

    names = list(values)
    vals = [float(values[n]) if values[n] is not None else float("nan") for n in names]
    finite = [v for v in vals if np.isfinite(v)]
    top = ymax if ymax is not None else max([1e-6] + [abs(v) for v in finite]) * 1.15
    bottom = min([0.0] + finite)
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, up, down = 60, 20, 50, 60
    ph, pw = height - up - down, width - left - right

    def y_of(v):
        return int(up + ph * (top - v) / (top - bottom))

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (left, 30), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for t in np.linspace(bottom, top, 6):
        y = y_of(t)
        cv2.line(img, (left, y), (width - right, y), (225, 225, 225), 1)
        cv2.putText(img, f"{t:.2f}", (5, y + 4), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (5, up - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    slot = pw / max(1, len(names))
    for i, (n, v) in enumerate(zip(names, vals)):
        x0 = int(left + i * slot + slot * 0.15)
        x1 = int(left + (i + 1) * slot - slot * 0.15)
        color = (60, 60, 200) if n.lower() == "avg" else (180, 120, 40)
        if np.isfinite(v):
            cv2.rectangle(img, (x0, y_of(max(v, 0))), (x1, y_of(min(v, 0))), color, -1)
            cv2.putText(img, f"{v:.2f}", (x0, y_of(max(v, 0)) - 5), font, 0.38, (0, 0, 0), 1,
                        cv2.LINE_AA)
        cv2.putText(img, n, (x0, height - down + 20), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (left, y_of(0)), (width - right, y_of(0)), (0, 0, 0), 1)
    if not cv2.imwrite(path, img):
        raise OSError(f"could not write {path}")
    return path


def evaluate_model(model: str, dataset: str, config: str, split: str,
                   data_dir: Optional[str] = None, batch_size: int = 64,
                   max_examples: Optional[int] = None, output: Optional[str] = None,
                   log=print) -> dict:
    """Evaluates a SavedModel on a TFDS split; writes table/JSON/plot when ``output`` is set."""
    import tensorflow as tf

    from tfau import aus as aus_lib
    from tfau import data as data_lib
    from tfau import export as export_lib
    from tfau import metrics as metrics_lib

    predictor = export_lib.load(model)
    meta = predictor.metadata
    model_protocol = aus_lib.get_protocol(meta["protocol"], meta.get("threshold"))
    data_protocol = data_lib.protocol_of(data_lib.get_builder(dataset, config, data_dir))
    if data_protocol.task != model_protocol.task:
        raise SystemExit(f"the model predicts AU {model_protocol.task}; {dataset}/{config} has "
                         f"{data_protocol.task} labels")
    missing = [a for a in model_protocol.aus if a not in data_protocol.aus]
    if missing:
        raise SystemExit(f"{dataset}/{config} has no labels for "
                         f"{[aus_lib.au_name(a) for a in missing]}")
    cols = [data_protocol.aus.index(a) for a in model_protocol.aus]
    ds = data_lib.load_split(dataset, config, split, data_dir)
    if max_examples:
        ds = ds.take(max_examples)
    ds = ds.map(lambda ex: (ex["image"], ex["labels"], ex["label_mask"])).batch(batch_size)
    ys, ms, ps = [], [], []
    for images, labels, mask in ds:
        ps.append(predictor.predict(images.numpy().astype(np.uint8))["au"])
        ys.append(labels.numpy()[:, cols])
        ms.append(mask.numpy()[:, cols])
    if not ys:
        raise SystemExit(f"split {split!r} of {dataset}/{config} is empty")
    y, m, p = np.concatenate(ys), np.concatenate(ms), np.concatenate(ps)
    if model_protocol.task == aus_lib.OCCURRENCE and data_protocol.threshold is not None and \
            np.nanmax(y) > 1:
        y = aus_lib.intensity_to_occurrence(y, data_protocol.threshold).astype(np.float32)
    results = metrics_lib.evaluate(y, p, m, model_protocol)
    table = metrics_lib.render_table(results, model_protocol)
    title = (f"{meta.get('method', 'model')} ({os.path.basename(os.path.normpath(model))}) on "
             f"{dataset}/{config} split {split}, {len(y)} frames")
    log("\n" + title + "\n" + table)
    if output:
        os.makedirs(output, exist_ok=True)
        stem = f"{dataset}_{config}_{split}".replace("+", "-")
        with open(os.path.join(output, stem + ".md"), "w") as f:
            f.write(f"# {title}\n\n{table}")
        with open(os.path.join(output, stem + ".json"), "w") as f:
            f.write(metrics_lib.results_to_json(results))
        key = "icc" if model_protocol.task == aus_lib.INTENSITY else "f1"
        values = {n: results[key][n] for n in model_protocol.au_names}
        values["Avg"] = results[key]["avg"]
        plot = bar_plot(values, title, os.path.join(output, f"{stem}_{key}.png"),
                        ylabel="ICC" if key == "icc" else "F1", ymax=1.0)
        log(f"[tfau] wrote {os.path.join(output, stem)}.md/.json and {plot}")
    del tf
    return results


def cmd_evaluate(args) -> int:
    evaluate_model(args.model, args.dataset, args.config, args.split, args.data_dir,
                   args.batch_size, args.max_examples, args.output)
    return 0


def cmd_export(args) -> int:
    from tfau import export as export_lib

    path = export_lib.export_checkpoint(args.checkpoint, args.output, overwrite=args.overwrite)
    print(f"[tfau] SavedModel written to {path}")
    return 0


def cmd_info(args) -> int:
    from tfau import export as export_lib

    print(json.dumps(export_lib.read_metadata(args.model), indent=1))
    return 0


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfau", description="Facial Action Units with tfau models.")
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="AUs of images, image folders and videos -> CSV",
                        description=__doc__.split("``tfau evaluate")[0],
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder or video")
    pr.add_argument("--model", required=True, help="exported SavedModel folder")
    pr.add_argument("--output", required=True, help="folder for the CSVs (created)")
    pr.add_argument("--batch_size", type=int, default=32, help="faces per model call")
    pr.add_argument("--overlay", action="store_true",
                    help="also write heatmap overlay PNGs (<output>/<input>_overlay/)")
    pr.add_argument("--presence_threshold", type=float, default=1.0,
                    help="intensity models: AUxx_c = 1 when AUxx_r >= this")
    pr.add_argument("--no_progress", action="store_true")
    pr.set_defaults(func=cmd_predict)

    ev = sub.add_parser("evaluate", help="per-AU table + bar plot of a SavedModel on a dataset")
    ev.add_argument("--model", required=True)
    ev.add_argument("--dataset", default="synthetic_au")
    ev.add_argument("--config", required=True)
    ev.add_argument("--split", required=True, help="e.g. fold1, or fold2+fold3")
    ev.add_argument("--data_dir", default=None)
    ev.add_argument("--batch_size", type=int, default=64)
    ev.add_argument("--max_examples", type=int, default=None)
    ev.add_argument("--output", default=None,
                    help="folder for <dataset>_<config>_<split>.md/.json/_<metric>.png "
                         "(default: eval/<model name>)")
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="SavedModel from a training checkpoint")
    ex.add_argument("--checkpoint", required=True,
                    help="a run folder (runs/<method>/<name>[/foldK]) or a *.weights.h5 in one")
    ex.add_argument("--output", required=True,
                    help="new or empty folder; an existing tfau SavedModel only with --overwrite")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace --output when it already holds a tfau SavedModel")
    ex.set_defaults(func=cmd_export)

    info = sub.add_parser("info", help="metadata of an exported model")
    info.add_argument("--model", required=True)
    info.set_defaults(func=cmd_info)

    from tfau.reproduce import study as reproduce_study

    reproduce_study.add_parser(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if args.command == "evaluate" and args.output is None:
        args.output = os.path.join("eval", os.path.basename(os.path.normpath(args.model)))
    from tfau import export as export_lib

    try:
        return int(args.func(args) or 0)
    except (export_lib.ExportTargetError, export_lib.ModelError, FileNotFoundError) as e:
        print(f"tfau {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
