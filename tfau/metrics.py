"""AU metrics: ICC(3,1), MAE and F1 per AU, streaming Keras metrics, and the papers' tables.

Three layers, all agreeing on the same numbers:

* NumPy closed forms (``icc``, ``mae``, ``f1``, ``accuracy`` and the general
  ``icc_1_1`` / ``icc_2_1`` / ``icc_3_1`` for an ``n x k`` ratings matrix). Values are in 0-1;
  only the rendered tables show F1 and accuracy in percent, as the papers do.
* Streaming ``keras.metrics.Metric`` classes (``ICC``, ``MaskedMAE``, ``F1Score``) that keep
  additive per-AU sufficient statistics, so that updating them batch by batch (and summing them
  across replicas under a ``tf.distribute`` strategy) gives exactly the NumPy value on the
  concatenated data. ``result()`` is the mean over AUs, ``per_au()`` the per-AU vector.
* ``evaluate`` -> results dict keyed by ``tfau.aus.au_name``, ``render_table`` (Markdown, like
  the papers' tables) and ``results_to_json``.

Conventions, shared by all three layers:

* ``mask`` (NumPy) / ``sample_weight`` (Keras) is ``[n, A]`` (or ``[n]``, broadcast over AUs);
  entries with mask 0 are dropped per AU (BP4D's "9 = unknown"). In the Keras metrics the
  weights are frequency weights, the NumPy mask is boolean (non-zero = keep).
* ICC(3,1) is undefined (``nan``) when fewer than 2 frames are labelled for an AU, or when both
  the labels and the predictions are constant (0/0); no warning is emitted. If only one column is
  constant the ICC is 0 (Shrout & Fleiss's formula gives that), not ``nan``.
* MAE is ``nan`` for an AU with no labelled frame.
* F1 follows ``sklearn.metrics.f1_score(..., zero_division=0)`` on the positive class: an AU with
  neither positive labels nor positive predictions scores 0 (not 1, not ``nan``).
* Averages over AUs (``result()``, the ``"avg"`` entries, the tables' Avg column) skip AUs
  whose value is ``nan``; tables print ``nan`` values as ``-``.
"""
from __future__ import annotations

import json
import math
from typing import Dict, Mapping, Optional, Sequence

import keras
import numpy as np
from keras import ops

from tfau import aus as aus_lib

__all__ = [
    "icc", "icc_1_1", "icc_2_1", "icc_3_1", "two_way_anova", "mae", "f1", "accuracy",
    "ICC", "MaskedMAE", "F1Score",
    "evaluate", "render_table", "results_to_json",
]

# Relative tolerance under which MSR + (k-1) MSE counts as 0 (both columns constant).
_DEGENERATE_RTOL_F64 = 1e-12
_DEGENERATE_RTOL_F32 = 1e-5


# ----------------------------------------------------------------------------------------------
# NumPy closed forms
# ----------------------------------------------------------------------------------------------

def two_way_anova(ratings) -> Dict[str, float]:
    """Sums of squares and mean squares of the two-way ANOVA of an ``n x k`` ratings matrix.

    Rows are targets (frames), columns are judges (label, prediction). Returns a dict with
    ``n, k, grand_mean, sst, ssr, ssc, sse, msr, msc, mse, msw`` (``msw`` is the within-target
    mean square of the one-way model used by ICC(1,1)). The residual sum of squares is computed
    from the residuals directly rather than as ``SST - SSR - SSC``, which avoids cancellation.
    """
    y = np.asarray(ratings, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"ratings must be an n x k matrix (targets x judges); got shape {y.shape}")
    n, k = y.shape
    if y.size == 0:
        nan = math.nan
        return dict(n=n, k=k, grand_mean=nan, sst=nan, ssr=nan, ssc=nan, sse=nan, msr=nan,
                    msc=nan, mse=nan, msw=nan, mean_sq=nan)
    with np.errstate(all="ignore"):
        grand = y.mean()
        row = y.mean(axis=1, keepdims=True)
        col = y.mean(axis=0, keepdims=True)
        sst = float(((y - grand) ** 2).sum())
        ssr = float(k * ((row - grand) ** 2).sum())
        ssc = float(n * ((col - grand) ** 2).sum())
        sse = float(((y - row - col + grand) ** 2).sum())
        msr = ssr / (n - 1) if n > 1 else math.nan
        msc = ssc / (k - 1) if k > 1 else math.nan
        mse = sse / ((n - 1) * (k - 1)) if n > 1 and k > 1 else math.nan
        msw = (ssc + sse) / (n * (k - 1)) if n > 0 and k > 1 else math.nan
        mean_sq = float((y ** 2).mean())
    return dict(n=n, k=k, grand_mean=float(grand), sst=sst, ssr=ssr, ssc=ssc, sse=sse,
                msr=msr, msc=msc, mse=mse, msw=msw, mean_sq=mean_sq)


def _ratio(num: float, den: float, scale: float) -> float:
    """num / den, nan when den is 0 up to round-off relative to the data's scale."""
    if not (math.isfinite(num) and math.isfinite(den)):
        return math.nan
    if den <= _DEGENERATE_RTOL_F64 * scale:
        return math.nan
    return num / den


def icc_3_1(ratings) -> float:
    """ICC(3,1) of Shrout & Fleiss (1979): two-way mixed, consistency, single rater.

    ``ratings`` is ``n x k`` (targets x judges). ``(MSR - MSE) / (MSR + (k-1) MSE)``.
    ``nan`` when ``n < 2``, ``k < 2`` or the denominator is 0.
    """
    a = two_way_anova(ratings)
    if a["n"] < 2 or a["k"] < 2:
        return math.nan
    return _ratio(a["msr"] - a["mse"], a["msr"] + (a["k"] - 1) * a["mse"], a["mean_sq"])


def icc_2_1(ratings) -> float:
    """ICC(2,1): two-way random, absolute agreement, single rater (Shrout & Fleiss 1979)."""
    a = two_way_anova(ratings)
    n, k = a["n"], a["k"]
    if n < 2 or k < 2:
        return math.nan
    den = a["msr"] + (k - 1) * a["mse"] + k * (a["msc"] - a["mse"]) / n
    return _ratio(a["msr"] - a["mse"], den, a["mean_sq"])


def icc_1_1(ratings) -> float:
    """ICC(1,1): one-way random, single rater (Shrout & Fleiss 1979)."""
    a = two_way_anova(ratings)
    if a["n"] < 2 or a["k"] < 2:
        return math.nan
    return _ratio(a["msr"] - a["msw"], a["msr"] + (a["k"] - 1) * a["msw"], a["mean_sq"])


def _prepare(y_true, y_pred, mask, check_finite=True):
    """Validates shapes; returns float64 [n, A] arrays, a bool keep mask and whether input was 1-D."""
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {yt.shape} and {yp.shape}")
    if yt.ndim not in (1, 2):
        raise ValueError(f"y_true must be [n] (one AU) or [n, A]; got shape {yt.shape}")
    one_d = yt.ndim == 1
    if one_d:
        yt, yp = yt[:, None], yp[:, None]
    if mask is None:
        keep = np.ones(yt.shape, dtype=bool)
    else:
        m = np.asarray(mask)
        if one_d and m.ndim == 1:
            m = m[:, None]
        elif m.ndim == 1 and m.shape[0] == yt.shape[0]:
            m = m[:, None]
        try:
            keep = np.broadcast_to(m != 0, yt.shape)
        except ValueError:
            raise ValueError(f"mask of shape {np.shape(mask)} does not match y_true of shape "
                             f"{np.shape(y_true)}") from None
    if check_finite:
        for name, arr in (("y_true", yt), ("y_pred", yp)):
            bad = keep & ~np.isfinite(arr)
            if bad.any():
                raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) in unmasked "
                                 "entries; mask them out or fix the model output")
    return yt, yp, keep, one_d


def _finish(values, one_d):
    values = np.asarray(values, dtype=np.float64)
    return float(values[0]) if one_d else values


def icc(y_true, y_pred, mask=None):
    """ICC(3,1) between labels and predictions per AU (k = 2 judges: label, prediction).

    Args:
      y_true, y_pred: ``[n]`` (one AU, returns a float) or ``[n, A]`` (returns ``[A]``).
      mask: optional, same shape (or ``[n]``); entries with mask 0 are dropped for that AU.
    """
    yt, yp, keep, one_d = _prepare(y_true, y_pred, mask)
    out = [icc_3_1(np.stack([yt[keep[:, a], a], yp[keep[:, a], a]], axis=1))
           for a in range(yt.shape[1])]
    return _finish(out, one_d)


def mae(y_true, y_pred, mask=None):
    """Mean absolute error per AU over unmasked entries (``nan`` for an AU with none)."""
    yt, yp, keep, one_d = _prepare(y_true, y_pred, mask)
    count = keep.sum(axis=0)
    total = np.where(keep, np.abs(yt - yp), 0.0).sum(axis=0)
    with np.errstate(all="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return _finish(out, one_d)


def _binary(name, arr, keep, threshold=None):
    if threshold is not None:
        return arr >= threshold
    vals = np.unique(arr[keep])
    if not np.isin(vals, (0.0, 1.0)).all():
        shown = ", ".join(f"{v:g}" for v in vals[:6])
        hint = ("pass threshold= to binarise probabilities" if name == "y_pred" else
                "derive occurrence from intensity with tfau.aus.intensity_to_occurrence")
        raise ValueError(f"{name} must be binary 0/1 here; found values {shown}; {hint}")
    return arr > 0.5


def _confusion(y_true, y_pred, mask, threshold):
    yt, yp, keep, one_d = _prepare(y_true, y_pred, mask)
    t = _binary("y_true", yt, keep)
    p = _binary("y_pred", yp, keep, threshold)
    tp = (keep & t & p).sum(axis=0)
    fp = (keep & ~t & p).sum(axis=0)
    fn = (keep & t & ~p).sum(axis=0)
    tn = (keep & ~t & ~p).sum(axis=0)
    return tp, fp, fn, tn, one_d


def f1(y_true, y_pred, mask=None, *, threshold=None):
    """F1 of the positive class per AU, as ``sklearn.metrics.f1_score(zero_division=0)``.

    ``y_true`` must be 0/1. ``y_pred`` must be 0/1 unless ``threshold`` is given, in which case
    ``y_pred >= threshold`` is positive. An AU with no positive label and no positive prediction
    gets 0.
    """
    tp, fp, fn, _, one_d = _confusion(y_true, y_pred, mask, threshold)
    den = 2 * tp + fp + fn
    out = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)
    return _finish(out, one_d)


def accuracy(y_true, y_pred, mask=None, *, threshold=None):
    """Fraction of correct 0/1 decisions per AU over unmasked entries (``nan`` if none)."""
    tp, fp, fn, tn, one_d = _confusion(y_true, y_pred, mask, threshold)
    count = tp + fp + fn + tn
    out = np.where(count > 0, (tp + tn) / np.maximum(count, 1), np.nan)
    return _finish(out, one_d)


# ----------------------------------------------------------------------------------------------
# Streaming Keras metrics
# ----------------------------------------------------------------------------------------------

def _default_accumulator_dtype() -> str:
    """float64 where the backend has it (TF, torch, JAX with x64); float32 otherwise."""
    if keras.backend.backend() == "jax":
        import jax  # noqa: PLC0415

        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"


class _PerAUMetric(keras.metrics.Metric):
    """Shared plumbing: input unpacking, masking, per-AU -> mean reduction, config."""

    def __init__(self, n_aus: int, name=None, dtype=None, accumulator_dtype: Optional[str] = None):
        super().__init__(name=name, dtype=dtype)
        if int(n_aus) < 1:
            raise ValueError(f"n_aus must be a positive integer; got {n_aus!r}")
        self.n_aus = int(n_aus)
        self.accumulator_dtype = accumulator_dtype or _default_accumulator_dtype()

    def _state(self, name):
        return self.add_variable(shape=(self.n_aus,), initializer="zeros",
                                 dtype=self.accumulator_dtype, name=name)

    def _inputs(self, y_true, y_pred, sample_weight):
        """-> y_true, y_pred, weights as [B, A] tensors in the accumulator dtype.

        Accepts the pipeline's dicts too: ``y_true={"labels", "label_mask"}``,
        ``y_pred={"au", ...}``; a ``label_mask`` is multiplied into ``sample_weight``.
        """
        mask = None
        if isinstance(y_true, Mapping):
            mask = y_true.get("label_mask")
            y_true = y_true["labels"]
        if isinstance(y_pred, Mapping):
            y_pred = y_pred["au"]
        dt = self.accumulator_dtype
        y_true = ops.reshape(ops.cast(y_true, dt), (-1, self.n_aus))
        y_pred = ops.reshape(ops.cast(y_pred, dt), (-1, self.n_aus))
        weight = ops.ones_like(y_true)
        for w in (sample_weight, mask):
            if w is None:
                continue
            w = ops.cast(w, dt)
            if len(w.shape) == 1:
                w = ops.expand_dims(w, -1)
            weight = weight * ops.broadcast_to(w, ops.shape(y_true))
        return y_true, y_pred, weight

    def per_au(self):
        raise NotImplementedError

    def result(self):
        values = self.per_au()
        finite = ops.logical_not(ops.isnan(values))
        total = ops.sum(ops.where(finite, values, ops.zeros_like(values)))
        count = ops.sum(ops.cast(finite, values.dtype))
        mean = ops.where(count > 0, total / ops.maximum(count, 1), ops.full_like(total, np.nan))
        return ops.cast(mean, self.dtype)

    def get_config(self):
        return {"n_aus": self.n_aus, "name": self.name, "dtype": self.dtype,
                "accumulator_dtype": self.accumulator_dtype}


@keras.saving.register_keras_serializable(package="tfau")
class ICC(_PerAUMetric):
    """Streaming ICC(3,1) per AU between labels and predictions (k = 2).

    State per AU: weighted count ``n`` and the sums ``Σx, Σy, Σx², Σy², Σxy`` (x = label,
    y = prediction). With two judges ICC(3,1) reduces to ``2 Cxy / (Cxx + Cyy)`` with the centred
    sums ``Cxy = Σxy - Σx Σy / n`` etc., identical to ``icc``. The sums are additive, so replicas
    aggregate by summation; they are kept in float64 (see ``accumulator_dtype``; pass
    ``"float32"`` on TPUs) to keep the centring exact over 100k-frame evaluations.
    """

    def __init__(self, n_aus: int, name: str = "icc", dtype=None, accumulator_dtype=None):
        super().__init__(n_aus, name=name, dtype=dtype, accumulator_dtype=accumulator_dtype)
        self.count = self._state("count")
        self.sum_true = self._state("sum_true")
        self.sum_pred = self._state("sum_pred")
        self.sum_true_sq = self._state("sum_true_sq")
        self.sum_pred_sq = self._state("sum_pred_sq")
        self.sum_cross = self._state("sum_cross")

    def update_state(self, y_true, y_pred, sample_weight=None):
        x, y, w = self._inputs(y_true, y_pred, sample_weight)
        self.count.assign_add(ops.sum(w, axis=0))
        self.sum_true.assign_add(ops.sum(w * x, axis=0))
        self.sum_pred.assign_add(ops.sum(w * y, axis=0))
        self.sum_true_sq.assign_add(ops.sum(w * x * x, axis=0))
        self.sum_pred_sq.assign_add(ops.sum(w * y * y, axis=0))
        self.sum_cross.assign_add(ops.sum(w * x * y, axis=0))

    def per_au(self):
        n = ops.convert_to_tensor(self.count)
        safe_n = ops.maximum(n, 1.0)
        sx, sy = ops.convert_to_tensor(self.sum_true), ops.convert_to_tensor(self.sum_pred)
        sxx, syy = ops.convert_to_tensor(self.sum_true_sq), ops.convert_to_tensor(self.sum_pred_sq)
        cxx = sxx - sx * sx / safe_n
        cyy = syy - sy * sy / safe_n
        cxy = ops.convert_to_tensor(self.sum_cross) - sx * sy / safe_n
        den = cxx + cyy
        rtol = _DEGENERATE_RTOL_F64 if self.accumulator_dtype == "float64" else _DEGENERATE_RTOL_F32
        # Same test as the NumPy path: MSR + MSE <= rtol * mean(Y^2).
        floor = rtol * (n - 1.0) * (sxx + syy) / (2.0 * safe_n)
        ok = ops.logical_and(n >= 2.0, den > floor)
        value = 2.0 * cxy / ops.where(ok, den, ops.ones_like(den))
        return ops.where(ok, value, ops.full_like(value, np.nan))


@keras.saving.register_keras_serializable(package="tfau")
class MaskedMAE(_PerAUMetric):
    """Streaming mean absolute error per AU over unmasked entries; ``result()`` averages AUs."""

    def __init__(self, n_aus: int, name: str = "mae", dtype=None, accumulator_dtype=None):
        super().__init__(n_aus, name=name, dtype=dtype, accumulator_dtype=accumulator_dtype)
        self.count = self._state("count")
        self.sum_abs = self._state("sum_abs")

    def update_state(self, y_true, y_pred, sample_weight=None):
        x, y, w = self._inputs(y_true, y_pred, sample_weight)
        self.count.assign_add(ops.sum(w, axis=0))
        self.sum_abs.assign_add(ops.sum(w * ops.abs(x - y), axis=0))

    def per_au(self):
        n = ops.convert_to_tensor(self.count)
        value = ops.convert_to_tensor(self.sum_abs) / ops.maximum(n, 1e-12)
        return ops.where(n > 0, value, ops.full_like(value, np.nan))


@keras.saving.register_keras_serializable(package="tfau")
class F1Score(_PerAUMetric):
    """Streaming F1 of the positive class per AU from weighted tp / fp / fn counts.

    Labels are positive when ``>= 0.5`` (0/1 expected); predictions (probabilities) when
    ``>= threshold``. An AU with ``2tp + fp + fn == 0`` scores 0, as ``f1``.
    """

    def __init__(self, n_aus: int, threshold: float = 0.5, name: str = "f1", dtype=None,
                 accumulator_dtype=None):
        super().__init__(n_aus, name=name, dtype=dtype, accumulator_dtype=accumulator_dtype)
        self.threshold = float(threshold)
        self.true_positives = self._state("true_positives")
        self.false_positives = self._state("false_positives")
        self.false_negatives = self._state("false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        x, y, w = self._inputs(y_true, y_pred, sample_weight)
        t = ops.cast(x >= 0.5, w.dtype)
        p = ops.cast(y >= self.threshold, w.dtype)
        self.true_positives.assign_add(ops.sum(w * t * p, axis=0))
        self.false_positives.assign_add(ops.sum(w * (1.0 - t) * p, axis=0))
        self.false_negatives.assign_add(ops.sum(w * t * (1.0 - p), axis=0))

    def per_au(self):
        tp = ops.convert_to_tensor(self.true_positives)
        den = 2.0 * tp + ops.convert_to_tensor(self.false_positives) + \
            ops.convert_to_tensor(self.false_negatives)
        return ops.where(den > 0, 2.0 * tp / ops.maximum(den, 1e-12), ops.zeros_like(den))

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


# ----------------------------------------------------------------------------------------------
# Evaluation, tables, JSON
# ----------------------------------------------------------------------------------------------

_METRICS_BY_TASK = {aus_lib.INTENSITY: ("icc", "mae"), aus_lib.OCCURRENCE: ("f1", "accuracy")}
# (row label, scale, decimals) per metric, as the papers print them.
_FORMATS = {"icc": ("ICC", 1.0, 2), "mae": ("MAE", 1.0, 2),
            "f1": ("F1 (%)", 100.0, 1), "accuracy": ("Acc. (%)", 100.0, 1)}


_as_protocol = aus_lib.resolve_protocol  # the one resolver (tfau.aus)


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def collect_predictions(predict, batches):
    """Runs ``predict`` over ``(inputs, labels, mask)`` batches -> (labels, masks, predictions).

    The one predict-and-collect loop of the package (the trainer's held-out evaluation and
    ``tfau evaluate`` both use it). ``predict`` maps a batch's inputs to its AU predictions
    ``[B, A]``; tensors of any framework that ``np.asarray`` understands are accepted.
    Raises ``ValueError`` when ``batches`` yields nothing.
    """
    ys, ms, ps = [], [], []
    for inputs, labels, mask in batches:
        ps.append(np.asarray(predict(inputs), np.float32))
        ys.append(np.asarray(labels, np.float32))
        ms.append(np.asarray(mask, np.float32))
    if not ps:
        raise ValueError("no batch to evaluate: the split is empty")
    return np.concatenate(ys), np.concatenate(ms), np.concatenate(ps)


def evaluate(y_true, y_pred, mask, protocol, *, threshold: float = 0.5) -> dict:
    """Computes the protocol's metrics per AU and their average.

    Args:
      y_true: ``[n, A]`` labels in the protocol's target form (0-5 intensity, or 0/1 occurrence;
        derive DISFA occurrence with ``tfau.aus.intensity_to_occurrence``). Entries equal to the
        protocol's ``unknown_label`` (BP4D's 9) are masked out automatically.
      y_pred: ``[n, A]`` intensities, or occurrence probabilities / 0-1 decisions.
      mask: ``[n, A]`` (or ``[n]``) or ``None``; 0 drops the entry.
      protocol: a ``tfau.aus.Protocol`` or its name.
      threshold: occurrence only: ``y_pred >= threshold`` is a positive prediction.

    Returns:
      ``{"protocol", "dataset", "task", "aus": [names], "n_frames", "n_labelled": {AU: int},
      <metric>: {AU: value, ..., "avg": mean over AUs}}`` with metrics ``icc, mae``
      (intensity) or ``f1, accuracy`` (occurrence, plus ``"threshold"``); values in 0-1.
    """
    protocol = _as_protocol(protocol)
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.ndim == 1 and protocol.n_aus == 1:
        yt, yp = yt[:, None], yp.reshape(-1, 1)
    if yt.ndim != 2 or yt.shape[1] != protocol.n_aus:
        raise ValueError(f"y_true must be [n, {protocol.n_aus}] for protocol {protocol.name!r} "
                         f"(AUs {protocol.aus}); got shape {yt.shape}")
    keep = np.ones(yt.shape, dtype=bool) if mask is None else None
    if keep is None:
        m = np.asarray(mask)
        if m.ndim == 1:
            m = m[:, None]
        try:
            keep = np.broadcast_to(m != 0, yt.shape)
        except ValueError:
            raise ValueError(f"mask of shape {np.shape(mask)} does not match y_true of shape "
                             f"{yt.shape}") from None
    if protocol.unknown_label is not None:
        keep = keep & (yt != protocol.unknown_label)
    names = list(protocol.au_names)
    results = {"protocol": protocol.name, "dataset": protocol.dataset, "task": protocol.task,
               "aus": names, "n_frames": int(yt.shape[0]),
               "n_labelled": {n: int(c) for n, c in zip(names, keep.sum(axis=0))}}
    if protocol.task == aus_lib.INTENSITY:
        per_metric = {"icc": icc(yt, yp, keep), "mae": mae(yt, yp, keep)}
    else:
        results["threshold"] = float(threshold)
        per_metric = {"f1": f1(yt, yp, keep, threshold=threshold),
                      "accuracy": accuracy(yt, yp, keep, threshold=threshold)}
    for metric, values in per_metric.items():
        entry = {n: float(v) for n, v in zip(names, values)}
        entry["avg"] = _nanmean(values)
        results[metric] = entry
    return results


def _format(value, scale, decimals) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{round(value * scale, decimals) + 0.0:.{decimals}f}"


def render_table(results, protocol=None, title: Optional[str] = None,
                 metrics: Optional[Sequence[str]] = None) -> str:
    """Markdown table like the papers': one column per AU plus ``Avg``.

    Args:
      results: one ``evaluate`` dict, or a mapping ``{method name: evaluate dict}`` to compare
        methods (rows grouped by metric, then method, as in the papers).
      protocol: ``Protocol`` or name fixing the AU columns; defaults to the results' own.
      title: optional heading printed above the table (``### title``).
      metrics: which metrics to print; defaults to all the task has (ICC, MAE / F1, accuracy).

    ICC and MAE print with 2 decimals; F1 and accuracy in percent with 1 decimal; ``nan`` as ``-``.
    """
    single = isinstance(results, Mapping) and "task" in results
    runs = {"": results} if single else dict(results)
    if not runs:
        raise ValueError("render_table needs at least one results dict")
    first = next(iter(runs.values()))
    protocol = _as_protocol(protocol if protocol is not None else first["protocol"])
    names = list(protocol.au_names)
    for method, res in runs.items():
        if list(res.get("aus", names)) != names:
            raise ValueError(f"results {method!r} are for AUs {res.get('aus')}, "
                             f"not protocol {protocol.name!r}'s {names}")
    if metrics is None:
        metrics = tuple(m for m in _METRICS_BY_TASK[protocol.task] if m in first)
    metrics = tuple(metrics)
    for m in metrics:
        if m not in _FORMATS:
            raise ValueError(f"unknown metric {m!r}; known: {sorted(_FORMATS)}")
    lead = ["Metric"] if single else ["Metric", "Method"]
    header = "| " + " | ".join(lead + names + ["Avg"]) + " |"
    rule = "|" + "|".join([":--"] * len(lead) + ["--:"] * (len(names) + 1)) + "|"
    lines = [header, rule]
    for m in metrics:
        label, scale, decimals = _FORMATS[m]
        for method, res in runs.items():
            if m not in res:
                raise ValueError(f"results{' ' + repr(method) if method else ''} have no {m!r} "
                                 f"entry (task {res.get('task')!r})")
            cells = [_format(res[m].get(n), scale, decimals) for n in names + ["avg"]]
            lines.append("| " + " | ".join(([label] if single else [label, method]) + cells) + " |")
    table = "\n".join(lines) + "\n"
    return f"### {title}\n\n{table}" if title else table


def _json_safe(obj):
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def results_to_json(results) -> str:
    """JSON text of an ``evaluate`` dict (or a mapping of them); ``nan`` becomes ``null``."""
    return json.dumps(_json_safe(results), indent=2, allow_nan=False)
