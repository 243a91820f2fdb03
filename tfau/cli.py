"""The ``tfau`` command line.

``tfau predict INPUT... --model MODEL --output out/``
    Images, folders of images (one sequence, one CSV) and videos (anything OpenCV reads), through
    ``tfau.detector.Detector`` (this command is a thin layer over it): faces are detected and
    aligned (``tfau.face.FaceAligner``, ``--threshold``), batched through the model (a SavedModel
    folder, a run folder or its ``final.keras``), and one OpenFace-style CSV is written per
    input: ``frame, [file,] face_id, timestamp, confidence, success, status, detector_score,
    face_x, face_y, face_width, face_height, x_0..x_67, y_0..y_67`` then ``AUxx_r..., AUxx_c...``
    (intensity; ``_c`` = ``_r >= --presence_threshold``, default 1 = FACS level A) or
    ``AUxx_c..., AUxx_p...`` (occurrence; ``_c`` = ``_p >= 0.5``). ``face_id`` is tracked across
    the frames of a video or folder; ``--every N`` analyses every Nth frame. A frame without a
    face, an unreadable file inside a folder or an undecodable video frame is one row with
    ``success = 0`` and its ``status``. CSVs are written under a temporary name and renamed when
    complete; one input's failure does not stop the others; the summary is always printed
    (Ctrl-C and SIGTERM too). Exit status: 0, 1 when an input failed or a file/frame could not
    be read, 130 when interrupted, 2 for a bad argument. ``--overlay``: annotated frames (one
    video per video input); ``--plot``: a per-face figure and an AU time series.
``tfau plot CSV --output PNG [--input IMAGE --frame N --face_id K]``
    The AU time series of a predict CSV, or (with ``--input``) the per-face figure.
``tfau evaluate --model M --dataset D --config C --split S [--output DIR]``
    The paper-style per-AU table of a model on a TFDS split, as Markdown + JSON and a per-AU
    metrics figure (``tfau.plots.evaluation_figure``), with a progress bar.
``tfau export --checkpoint RUN_DIR_OR_WEIGHTS --output DIR``
    SavedModel from a training run folder (``run.json`` + ``*.weights.h5``).
``tfau info --model M``
    The metadata recorded in a SavedModel.
``tfau convert-weights {hrnetv2_w18,resnet18} SOURCE DEST``
    A PyTorch ImageNet checkpoint as a Keras backbone weights file
    (``tfau.backbones.conversion``).
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
# predict: a thin layer over tfau.detector.Detector


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the summary is still printed."""


class _Stats:
    def __init__(self):
        self.inputs = 0
        self.failed: List[Tuple[str, str]] = []
        self.unreadable: List[Tuple[str, str]] = []  # files inside folders, bad video frames
        self.frames = 0
        self.faces = 0
        self.no_face = 0
        self.csvs: List[str] = []
        self.overlays: List[str] = []
        self.interrupted = ""

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unreadable or self.interrupted)


def _unique_stem(output: str, path: str, used: set) -> str:
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0] or "input"
    name, k = stem, 1
    while name in used:
        k += 1
        name = f"{stem}_{k}"
    used.add(name)
    return os.path.join(output, name)


def _tmp_name(path: str) -> str:
    """A temporary name in the same folder (renamed to ``path`` when complete)."""
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}.part-{os.getpid()}")


def _remove(path: Optional[str]) -> None:
    if path and os.path.lexists(path):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
        except OSError:
            pass


def _predict_one(detector, path: str, kind: str, stem: str, stats: _Stats, *, every: int,
                 overlay: bool, plot: bool, progress: Optional[bool], log) -> None:
    """One input -> ``<stem>.csv`` (written under a temporary name, renamed when complete)."""
    from tfau import detector as det_lib

    def warn(message):
        log(f"[tfau] warning: {message}", file=sys.stderr)

    folder = kind == "folder"
    columns = detector.columns(folder)
    csv_path = stem + ".csv"
    tmp = _tmp_name(csv_path)
    writer = None
    show = progress if progress is not None else kind in ("video", "folder")
    n_frames, n_faces, seen_frames = 0, 0, set()
    want_faces = overlay or plot
    keep: List = []
    try:
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(columns)
            for item in detector.iter_rows(path, kind=kind, every=every, progress=show,
                                           keep_faces=want_faces, warn=warn):
                row = item.row
                if row["frame"] not in seen_frames:
                    seen_frames.add(row["frame"])
                    n_frames += 1
                if row["success"]:
                    n_faces += 1
                elif row["status"] in ("unreadable", "bad_frame"):
                    where = (os.path.join(path, row["file"]) if folder
                             else f"{path} frame {row['frame']}")
                    stats.unreadable.append((where, row["status"]))
                else:
                    stats.no_face += 1
                out.writerow([det_lib.format_value(c, row.get(c)) for c in columns])
                if want_faces:
                    writer = _draw(detector, path, kind, stem, item, keep, writer, overlay, stats)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, csv_path)
        tmp = None
        stats.csvs.append(csv_path)
        stats.frames += n_frames
        stats.faces += n_faces
        if writer is not None:
            try:
                writer.close()
                stats.overlays.append(writer.path)
            except OSError as e:
                writer.abort()
                stats.failed.append((path, f"overlay not written: {_os_error(e)}"))
                log(f"[tfau] {path}: overlay not written: {_os_error(e)}", file=sys.stderr)
            writer = None
        if plot:
            _plot_input(detector, path, kind, stem, csv_path, keep, stats, log)
        log(f"[tfau] {path}: {n_frames} frame(s), {n_faces} face(s) -> {csv_path}")
    finally:
        _remove(tmp)
        if writer is not None:
            writer.abort()


def _os_error(e: OSError) -> str:
    if e.strerror:
        return e.strerror + (f": {e.filename}" if e.filename else "")
    return str(e)


def _draw(detector, path, kind, stem, item, keep, writer, overlay, stats):
    """Overlay of one row (one annotated frame per frame; a video for a video input)."""
    from tfau import plots

    if item.row["success"] and len(keep) < 1:
        keep.append(item)  # the first face: the per-face figure of --plot
    if not overlay:
        return writer
    if writer is None:
        writer = plots.OverlayWriter(stem, kind, detector.au_names, detector.task,
                                     detector.metadata, source=path)
    writer.add(item)
    return writer


def _plot_input(detector, path, kind, stem, csv_path, keep, stats, log) -> None:
    from tfau import detector as det_lib
    from tfau import plots

    df = det_lib.read_results(csv_path)
    if kind == "video" or kind == "folder":
        target = plots.save(plots.au_timeseries(df, detector.au_names, detector.task),
                            stem + "_timeseries.png")
        stats.overlays.append(target)
    if keep and kind not in ("video",):
        first = keep[0]
        image = plots.source_image(path, kind, first.row)
        if image is not None:
            target = plots.save(plots.face_figure(image, first.row, detector.au_names,
                                                  detector.task), stem + "_face.png")
            stats.overlays.append(target)


def predict_inputs(inputs: Sequence[str], model, output: str, batch_size: int = 32,
                   overlay: bool = False, presence_threshold: float = 1.0,
                   progress: Optional[bool] = None, aligner=None, log=print,
                   threshold: Optional[float] = None, every: int = 1, plot: bool = False,
                   stats: Optional[_Stats] = None) -> _Stats:
    """Runs ``tfau predict``: one CSV per input (see the module docstring).

    One input's failure (unreadable, a write error, a crash) is recorded in the returned stats
    and the next input goes on; Ctrl-C / SIGTERM stop the run after removing the incomplete
    CSV (``stats.interrupted``). CSVs are written under a temporary name and renamed when
    complete, so a final name never holds a truncated file.
    """
    from tfau import detector as det_lib
    from tfau import face as face_lib

    stats = stats if stats is not None else _Stats()
    kwargs = {"presence_threshold": presence_threshold, "batch_size": batch_size}
    if threshold is not None:
        kwargs["threshold"] = threshold
    from tfau import export as export_lib

    try:
        detector = det_lib.Detector(model, aligner=aligner, **kwargs)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"--model: {e}") from None
    except export_lib.ModelError as e:
        raise export_lib.ModelError(f"--model: {e}") from None
    if detector.synthetic:
        log(f"[tfau] note: {det_lib.SYNTHETIC_NOTE}.", file=sys.stderr)
    if os.path.exists(output) and not os.path.isdir(output):
        raise NotADirectoryError(f"--output {output} exists and is not a folder")
    os.makedirs(output, exist_ok=True)
    used: set = set()
    del face_lib
    for path in inputs:
        stats.inputs += 1
        kind = det_lib.classify_input(path)
        if kind == "missing":
            stats.failed.append((path, "no such file or folder"))
            log(f"[tfau] skipped {path}: no such file or folder", file=sys.stderr)
            continue
        stem = _unique_stem(output, path, used)
        try:
            _predict_one(detector, path, kind, stem, stats, every=every, overlay=overlay,
                         plot=plot, progress=progress, log=log)
        except KeyboardInterrupt as e:
            stats.interrupted = "SIGTERM" if isinstance(e, Interrupted) else "Ctrl-C"
            stats.failed.append((path, f"interrupted ({stats.interrupted}); no CSV written"))
            break
        except det_lib.InputError as e:
            why = str(e)
            why = why[len(path) + 2:] if why.startswith(path + ": ") else why
            stats.failed.append((path, why))
            log(f"[tfau] skipped {path}: {why}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - isolate the failure to this input
            why = f"{type(e).__name__}: {str(e).strip()[:300]}"
            if isinstance(e, OSError):
                why = f"cannot write its output ({_os_error(e)})"
            stats.failed.append((path, why))
            log(f"[tfau] failed {path}: {why}", file=sys.stderr)
    return stats


def _print_summary(stats: _Stats, output: str, seconds: float) -> None:
    print(f"[tfau] summary: {stats.inputs} input(s), {len(stats.csvs)} CSV(s), "
          f"{stats.frames} frame(s), {stats.faces} face(s), {stats.no_face} frame(s) without a "
          f"face, {len(stats.unreadable)} unreadable file(s)/frame(s), {len(stats.failed)} failed "
          f"input(s), {seconds:.1f}s -> {output}", flush=True)
    if stats.interrupted:
        print(f"[tfau]   interrupted by {stats.interrupted}: the inputs after the last CSV were "
              "not processed", flush=True)
    for where, status in stats.unreadable[:50]:
        print(f"[tfau]   {status}: {where}", flush=True)
    if len(stats.unreadable) > 50:
        print(f"[tfau]   ... and {len(stats.unreadable) - 50} more (status column)", flush=True)
    for path, why in stats.failed:
        print(f"[tfau]   failed: {path}: {why}", flush=True)


def cmd_predict(args) -> int:
    import signal

    def on_term(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    stats = _Stats()
    try:
        predict_inputs(args.inputs, args.model, args.output, batch_size=args.batch_size,
                       overlay=args.overlay, presence_threshold=args.presence_threshold,
                       progress=None if not args.no_progress else False,
                       threshold=args.threshold, every=args.every, plot=args.plot, stats=stats)
    except KeyboardInterrupt as e:
        stats.interrupted = stats.interrupted or ("SIGTERM" if isinstance(e, Interrupted)
                                                  else "Ctrl-C")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if stats.inputs or stats.interrupted:
            _print_summary(stats, args.output, time.time() - t0)
    if stats.interrupted:
        return 130
    return 0 if stats.ok else 1


# ------------------------------------------------------------------------------------------------
# evaluate


def evaluate_model(model: str, dataset: str, config: str, split: str,
                   data_dir: Optional[str] = None, batch_size: int = 64,
                   max_examples: Optional[int] = None, output: Optional[str] = None,
                   log=print, progress: bool = False) -> dict:
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
    total = max_examples
    if total is None:
        try:
            total = int(ds.cardinality().numpy())
        except Exception:  # noqa: BLE001 - unknown size
            total = None
        total = total if total and total > 0 else None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"evaluate {split}", unit="frame", file=sys.stderr,
                   leave=False)
    try:
        for images, labels, mask in ds:
            ps.append(predictor.predict(images.numpy().astype(np.uint8))["au"])
            ys.append(labels.numpy()[:, cols])
            ms.append(mask.numpy()[:, cols])
            if bar is not None:
                bar.update(len(ys[-1]))
    except tf.errors.DataLossError as e:  # name the corrupt record file (issue 17 item 7)
        from tfau.data import loading

        raise loading.explain_read_error(e, dataset, config, split, data_dir) from None
    if bar is not None:
        bar.close()
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
        from tfau import plots

        plot = plots.save(plots.evaluation_figure(results, list(model_protocol.au_names),
                                                  title=title),
                          os.path.join(output, f"{stem}_metrics.png"))
        log(f"[tfau] wrote {os.path.join(output, stem)}.md/.json and {plot}")
    del tf
    return results


def cmd_evaluate(args) -> int:
    from tfau.data import loading

    try:
        return _evaluate(args)
    except loading.DatasetFileError as e:
        print(f"tfau evaluate: error: {e}", file=sys.stderr)
        return 2


def _evaluate(args) -> int:
    evaluate_model(args.model, args.dataset, args.config, args.split, args.data_dir,
                   args.batch_size, args.max_examples, args.output,
                   progress=not args.no_progress)
    return 0


def cmd_plot(args) -> int:
    from tfau import detector as det_lib
    from tfau import face as face_lib
    from tfau import plots

    df = det_lib.read_results(args.csv)
    if args.input is None:
        fig = plots.au_timeseries(df, face_id=args.face_id,
                                  title=os.path.basename(args.csv))
    else:
        rows = df[(df["frame"] == args.frame) & (df["success"] == 1)]
        if args.face_id is not None:
            rows = rows[rows["face_id"] == args.face_id]
        if rows.empty:
            raise SystemExit(f"tfau plot: error: {args.csv} has no face in frame {args.frame}"
                             + (f" with face_id {args.face_id}" if args.face_id is not None
                                else ""))
        row = rows.iloc[0]
        source = args.input
        if os.path.isdir(source):
            source = os.path.join(source, str(row["file"]))
        try:
            image = face_lib.load_image(source)
        except face_lib.ImageReadError as e:
            raise SystemExit(f"tfau plot: error: --input: {e}") from None
        fig = plots.face_figure(image, row, title=os.path.basename(source))
    print(f"[tfau] wrote {plots.save(fig, args.output)}")
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


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r}: must be >= {low}")
        return value

    parse.__name__ = "integer"
    return parse


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number")
    return value


CONVERTIBLE_BACKBONES = ("hrnetv2_w18", "resnet18")  # tfau.backbones.conversion.CONVERTIBLE


def cmd_convert_weights(args) -> int:
    from tfau.backbones.conversion import cli as convert_cli

    return convert_cli.convert_weights(args.backbone, args.source, args.dest, args.overwrite)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfau", description="Facial Action Units with tfau models.")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own logging (hidden by default)")
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="AUs of images, image folders and videos -> CSV",
                        description=__doc__.split("``tfau evaluate")[0],
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder or video")
    pr.add_argument("--model", required=True,
                    help="a SavedModel folder, a .keras file in a run folder, or a run folder")
    pr.add_argument("--output", required=True, help="folder for the CSVs (created)")
    pr.add_argument("--batch_size", type=_int_at_least(1), default=32,
                    help="faces per model call")
    pr.add_argument("--threshold", type=_finite, default=None,
                    help="dlib detection threshold (score; default 0.3; lower finds smaller or "
                         "turned faces and more false ones; see the confidence column)")
    pr.add_argument("--every", type=_int_at_least(1), default=1,
                    help="analyse frames 1, 1+N, 1+2N ... of videos and folders")
    pr.add_argument("--overlay", action="store_true",
                    help="also write annotated frames: <input>_overlay.png, one "
                         "<input>_overlay.mp4 per video, <input>_overlay/ per folder")
    pr.add_argument("--plot", action="store_true",
                    help="also write figures: <input>_face.png (first face) for images and "
                         "folders, <input>_timeseries.png for videos and folders")
    pr.add_argument("--presence_threshold", type=_finite, default=1.0,
                    help="intensity models: AUxx_c = 1 when AUxx_r >= this")
    pr.add_argument("--no_progress", action="store_true")
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("plot", help="figures from a `tfau predict` CSV")
    pl.add_argument("csv", help="a CSV written by tfau predict")
    pl.add_argument("--output", required=True, help="PNG (or PDF/SVG) to write")
    pl.add_argument("--input", default=None,
                    help="the image (or folder) the CSV came from: draws the per-face figure of "
                         "--frame/--face_id instead of the AU time series")
    pl.add_argument("--frame", type=_int_at_least(1), default=1)
    pl.add_argument("--face_id", type=_int_at_least(0), default=None)
    pl.set_defaults(func=cmd_plot)

    ev = sub.add_parser("evaluate", help="per-AU table + bar plot of a SavedModel on a dataset")
    ev.add_argument("--model", required=True)
    ev.add_argument("--dataset", default="synthetic_au")
    ev.add_argument("--config", required=True)
    ev.add_argument("--split", required=True, help="e.g. fold1, or fold2+fold3")
    ev.add_argument("--data_dir", default=None)
    ev.add_argument("--batch_size", type=_int_at_least(1), default=64)
    ev.add_argument("--max_examples", type=_int_at_least(1), default=None)
    ev.add_argument("--output", default=None,
                    help="folder for <dataset>_<config>_<split>.md/.json/_metrics.png "
                         "(default: ~/tfau_eval/<model name>, outside the working tree)")
    ev.add_argument("--no_progress", action="store_true")
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

    # tfau convert-weights: the parser here (no Keras import for --help), the work in
    # tfau.backbones.conversion.cli.
    cw = sub.add_parser("convert-weights",
                        help="PyTorch ImageNet checkpoint (.pth / .safetensors) -> Keras .weights.h5",
                        description="A PyTorch checkpoint as our backbone's Keras weights file (width "
                                    "1.0, any input size): --backbone_weights DEST, or saved as "
                                    "$TFAU_WEIGHTS_DIR/<backbone>_imagenet.weights.h5 (default folder "
                                    "~/.keras/tfau) what --backbone_weights imagenet loads.")
    cw.add_argument("backbone", choices=CONVERTIBLE_BACKBONES)
    cw.add_argument("source", metavar="SOURCE",
                    help=".pth/.pt/.bin (needs torch) or .safetensors (NumPy only): HRNet's "
                         "hrnetv2_w18_imagenet_pretrained.pth or timm hrnet_w18; torchvision's "
                         "resnet18-f37072fd.pth or timm resnet18")
    cw.add_argument("dest", metavar="DEST", help="output .weights.h5 (written atomically)")
    cw.add_argument("--overwrite", action="store_true", help="replace an existing DEST")
    cw.set_defaults(func=cmd_convert_weights)
    return p


# commands that run without TensorFlow (Keras on JAX/PyTorch + NumPy); the others need it
TF_FREE_COMMANDS = ("convert-weights",)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]  # accepted before or after the subcommand
    args = build_parser().parse_args(argv)
    if args.command == "evaluate" and args.output is None:
        args.output = os.path.join(os.path.expanduser("~"), "tfau_eval",
                                   os.path.basename(os.path.normpath(args.model)))
    import importlib.util

    from tfau import TensorFlowRequiredError, quiet, require_tensorflow

    no_tf = importlib.util.find_spec("tensorflow") is None  # JAX/PyTorch-only env (issue 15)
    if no_tf and args.command not in TF_FREE_COMMANDS:
        try:
            require_tensorflow(f"`tfau {args.command}`")
        except TensorFlowRequiredError as e:
            print(f"tfau {args.command}: error: {e}", file=sys.stderr)
            return 2
    if not no_tf:
        quiet.quiet_tensorflow(verbose)
    from tfau import detector as det_lib
    from tfau import export as export_lib

    try:
        return int(args.func(args) or 0)
    except (export_lib.ExportTargetError, export_lib.ModelError, FileNotFoundError,
            NotADirectoryError, det_lib.InputError) as e:
        print(f"tfau {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
