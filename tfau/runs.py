"""The run-folder format: what a training run writes and how a model is rebuilt from it.

A run folder (``runs/<method>/<name>``, or ``fold<k>/`` inside it for ``--fold all``) holds:
  ``run.json``           everything the run resolved (method, protocol, sizes, model options,
                         options derived from the training labels, splits, schedule);
  ``final.weights.h5``   the weights after training (``checkpoints/{last,best}.weights.h5``
                         during it; ``backup/`` is Keras's BackupAndRestore state);
  ``final.keras``        the serving model (training-only branches removed) as one Keras file:
                         ``tfau.Detector("runs/<method>/<name>/final.keras")``;
  ``results.md/.json``   the held-out table (per fold; the fold mean at the top level).

The trainer writes this format and ``tfau.export`` reads it; neither imports the other.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Optional, Sequence

import numpy as np

RUN_FILE = "run.json"
RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
FINAL_WEIGHTS = "final.weights.h5"
FINAL_KERAS = "final.keras"
WEIGHT_CANDIDATES = (FINAL_WEIGHTS, os.path.join("checkpoints", "best.weights.h5"),
                     os.path.join("checkpoints", "last.weights.h5"))


def dummy_features(image_size: int, batch: int = 1) -> Dict[str, Any]:
    """A zero batch of every feature a model may read (builds a model's weights)."""
    import tensorflow as tf

    return {
        "image": tf.zeros([batch, image_size, image_size, 3], tf.float32),
        "landmarks": tf.zeros([batch, 68, 2], tf.float32),
        "au_index": tf.constant(0, tf.int32),
    }


def model_kwargs(run: Dict[str, Any]) -> Dict[str, Any]:
    """``build_model`` keyword arguments of a run (its options plus the label-derived ones)."""
    kwargs = dict(run.get("model_options", {}))
    for key, value in (run.get("derived_options") or {}).items():
        kwargs[key] = np.asarray(value, np.float32) if isinstance(value, list) else value
    if run.get("backbone"):
        kwargs["backbone"] = run["backbone"]
    return kwargs


def build_from_run(run: Dict[str, Any]):
    """Rebuilds the (built, untrained) model a run trained, from its ``run.json`` content."""
    from tfau import aus as aus_lib
    from tfau.models import build_model

    protocol = aus_lib.get_protocol(run["protocol"], run.get("threshold"))
    model = build_model(run["method"], protocol, image_size=run["image_size"],
                        width=run["width"], backbone_weights=run.get("backbone_weights_used"),
                        **model_kwargs(run))
    model(dummy_features(run["image_size"]), training=False)
    return model


def read_run(run_dir: str) -> Dict[str, Any]:
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: not a tfau run folder "
                                "(train_scripts/*.py writes run.json)")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); the run folder is damaged") from None


def write_run(run_dir: str, run: Dict[str, Any]) -> None:
    """Writes ``run.json`` atomically (a temporary name, then a rename)."""
    path = os.path.join(run_dir, RUN_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(run, f, indent=1)
    os.replace(tmp, path)


def save_keras(model, run_dir: str) -> Optional[str]:
    """Writes the serving model as ``run_dir/final.keras`` (a temporary name, then a rename).

    A failure is a warning (None returned): the weights file is what resuming and
    ``tfau export`` need.
    """
    import sys

    serving = model.serving_model() if hasattr(model, "serving_model") else model
    path = os.path.join(run_dir, FINAL_KERAS)
    tmp = os.path.join(run_dir, ".tmp-" + FINAL_KERAS)  # Keras wants the .keras extension
    try:
        serving.save(tmp)
        os.replace(tmp, path)
        return path
    except Exception as e:  # noqa: BLE001
        print(f"[tfau] warning: {path} not written ({type(e).__name__}: {str(e)[:200]})",
              file=sys.stderr, flush=True)
        return None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def find_weights(run_dir: str) -> str:
    for cand in WEIGHT_CANDIDATES:
        if os.path.exists(os.path.join(run_dir, cand)):
            return os.path.join(run_dir, cand)
    raise FileNotFoundError(f"no weights (*.weights.h5) in run folder {run_dir}")


def write_results(run_dir: str, title: str, table: str, results, protocol, extra=None) -> None:
    """``results.md`` (the table) and ``results.json`` (the metrics and ``extra``)."""
    from tfau import metrics as metrics_lib

    with open(os.path.join(run_dir, RESULTS_MD), "w") as f:
        f.write(f"# {title}\n\n{table}\n")
    payload = metrics_lib.results_to_json(results)
    if isinstance(payload, str):
        payload = json.loads(payload)
    doc = {"title": title, "protocol": protocol.name, "results": payload}
    if extra:
        doc.update({k: v for k, v in extra.items() if k not in ("results", "title")})
    tmp = os.path.join(run_dir, RESULTS_JSON + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, os.path.join(run_dir, RESULTS_JSON))


def read_results(path: str) -> Dict[str, Any]:
    """A ``results.json`` with JSON nulls back as NaN: ``{"title", "fold", "results"}``."""
    with open(path) as f:
        doc = json.load(f)
    return {"title": doc["title"], "fold": doc.get("fold"),
            "results": nan_from_json(doc["results"])}


def nan_from_json(obj):
    if isinstance(obj, dict):
        return {k: nan_from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [nan_from_json(v) for v in obj]
    return float("nan") if obj is None else obj


def average_results(per_fold: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean over folds of every per-AU metric, as the papers report their 3-fold protocols.

    Each AU's value is the mean of its fold values (folds where it is undefined are skipped);
    ``avg`` is the mean of those per-AU means. Frame counts are summed.
    """
    first = per_fold[0]
    names = list(first["aus"])
    out = {k: v for k, v in first.items() if not isinstance(v, dict)}
    out["n_frames"] = int(sum(r["n_frames"] for r in per_fold))
    out["n_folds"] = len(per_fold)
    out["n_labelled"] = {n: int(sum(r["n_labelled"][n] for r in per_fold)) for n in names}
    for key, value in first.items():
        if not isinstance(value, dict) or key == "n_labelled":
            continue
        entry = {}
        for n in names:
            vals = [_num(r[key].get(n)) for r in per_fold]
            vals = [v for v in vals if not math.isnan(v)]
            entry[n] = float(np.mean(vals)) if vals else math.nan
        per_au = [v for v in entry.values() if not math.isnan(v)]
        entry["avg"] = float(np.mean(per_au)) if per_au else math.nan
        entry["per_fold_avg"] = [_num(r[key].get("avg")) for r in per_fold]
        out[key] = entry
    return out


def _num(v: Optional[float]) -> float:
    return float("nan") if v is None else float(v)
