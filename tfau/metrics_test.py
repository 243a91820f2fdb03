"""Tests for tfau.metrics: published ICC example, brute-force ANOVA, sklearn F1, streaming == NumPy."""
import json
import math
import warnings

import keras
import numpy as np
import pytest

from tfau import aus
from tfau import metrics as M

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SHROUT_FLEISS = np.array([
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
], dtype=float)


def brute_force_icc_3_1(y):
    """Two-way ANOVA with explicit loops, straight from Shrout & Fleiss's definitions."""
    n, k = len(y), len(y[0])
    grand = sum(sum(r) for r in y) / (n * k)
    row_means = [sum(r) / k for r in y]
    col_means = [sum(y[i][j] for i in range(n)) / n for j in range(k)]
    sst = ssr = ssc = 0.0
    for i in range(n):
        for j in range(k):
            sst += (y[i][j] - grand) ** 2
    for i in range(n):
        ssr += k * (row_means[i] - grand) ** 2
    for j in range(k):
        ssc += n * (col_means[j] - grand) ** 2
    sse = sst - ssr - ssc
    msr, mse = ssr / (n - 1), sse / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse)


# ---------------------------------------------------------------------------------- NumPy ICC

def test_shrout_fleiss_published_values():
    assert round(M.icc_3_1(SHROUT_FLEISS), 2) == 0.71
    assert round(M.icc_2_1(SHROUT_FLEISS), 2) == 0.29
    assert round(M.icc_1_1(SHROUT_FLEISS), 2) == 0.17
    a = M.two_way_anova(SHROUT_FLEISS)
    # Published mean squares: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02.
    assert round(a["msr"], 2) == 11.24
    assert round(a["msw"], 2) == 6.26
    assert round(a["msc"], 2) == 32.49
    assert round(a["mse"], 2) == 1.02
    assert M.icc_3_1(SHROUT_FLEISS) == pytest.approx(brute_force_icc_3_1(SHROUT_FLEISS.tolist()))


def test_icc_matches_brute_force_anova_per_au_with_mask():
    rng = np.random.default_rng(0)
    n, a = 40, 3
    y_true = rng.integers(0, 6, size=(n, a)).astype(float)
    y_pred = np.clip(y_true + rng.normal(0, 1.0, size=(n, a)), 0, 5)
    mask = rng.random((n, a)) > 0.25
    got = M.icc(y_true, y_pred, mask)
    assert got.shape == (a,)
    for j in range(a):
        rows = [[y_true[i, j], y_pred[i, j]] for i in range(n) if mask[i, j]]
        assert got[j] == pytest.approx(brute_force_icc_3_1(rows), abs=1e-12)
    # 1-D input gives a float equal to the column's value.
    one = M.icc(y_true[:, 1], y_pred[:, 1], mask[:, 1])
    assert isinstance(one, float) and one == pytest.approx(got[1])


def test_icc_two_judges_equals_centred_form():
    # With k = 2, ICC(3,1) = 2 Cxy / (Cxx + Cyy).
    x = np.array([0, 1, 2, 3, 5, 4, 0, 0], float)
    y = np.array([0.5, 1, 1.5, 3.5, 4, 4, 1, 0], float)
    cx, cy = x - x.mean(), y - y.mean()
    assert M.icc(x, y) == pytest.approx(2 * (cx * cy).sum() / ((cx ** 2).sum() + (cy ** 2).sum()))


def test_icc_consistency_semantics():
    x = np.array([0, 1, 2, 3, 4, 5], float)
    assert M.icc(x, x) == pytest.approx(1.0)
    assert M.icc(x, x + 2.0) == pytest.approx(1.0)  # consistency: a constant offset is free
    assert M.icc_2_1(np.stack([x, x + 2.0], 1)) < 0.8  # absolute agreement penalises it
    assert M.icc(x, -x) == pytest.approx(-1.0)


def test_icc_degenerate_cases_are_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(M.icc(np.zeros(10), np.full(10, 3.0)))  # both constant: 0/0
        assert math.isnan(M.icc(np.full(7, 0.1), np.full(7, 0.3)))  # round-off in the means
        assert math.isnan(M.icc([2.0], [3.0]))  # n < 2
        assert math.isnan(M.icc(np.zeros(0), np.zeros(0)))
        assert M.icc(np.zeros(5), np.arange(5.0)) == 0.0  # one constant column: ICC = 0
        out = M.icc(np.ones((4, 2)), np.ones((4, 2)), mask=[[1, 0]] * 4)
        assert np.isnan(out).all()
        assert math.isnan(M.icc_3_1(np.ones((1, 4))))


def test_input_validation():
    with pytest.raises(ValueError, match="same shape"):
        M.icc(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="mask"):
        M.mae(np.zeros((3, 2)), np.zeros((3, 2)), mask=np.ones((2, 2)))
    with pytest.raises(ValueError, match="y_pred has 1 non-finite"):
        M.icc([0.0, 1.0, 2.0], [0.0, np.nan, 2.0])
    # A masked-out NaN is fine.
    assert M.mae([0.0, 1.0, 2.0], [0.0, np.nan, 2.5], mask=[1, 0, 1]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="ratings must be an n x k"):
        M.icc_3_1(np.zeros(5))


# ------------------------------------------------------------------------------- MAE, F1, acc

def test_mae_hand_computed():
    y_true = [[0, 1], [2, 9], [4, 3]]
    y_pred = [[1, 1], [2, 0], [1, 5]]
    mask = [[1, 1], [1, 0], [1, 1]]
    np.testing.assert_allclose(M.mae(y_true, y_pred, mask), [4 / 3, 1.0])
    out = M.mae(y_true, y_pred, [[1, 0]] * 3)
    assert out[0] == pytest.approx(4 / 3) and math.isnan(out[1])


def test_f1_and_accuracy_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y_true = (rng.random((60, 4)) < 0.3).astype(float)
    prob = np.clip(0.6 * y_true + 0.6 * rng.random((60, 4)), 0, 1)
    mask = rng.random((60, 4)) > 0.2
    got_f1 = M.f1(y_true, prob, mask, threshold=0.5)
    got_acc = M.accuracy(y_true, prob, mask, threshold=0.5)
    for j in range(4):
        t, p = y_true[mask[:, j], j], prob[mask[:, j], j] >= 0.5
        assert got_f1[j] == pytest.approx(sk.f1_score(t, p, zero_division=0))
        assert got_acc[j] == pytest.approx(sk.accuracy_score(t, p))


def test_f1_hand_computed_and_zero_division():
    # tp=2, fp=1, fn=1 -> 2*2 / (4+1+1) = 2/3
    assert M.f1([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == pytest.approx(2 / 3)
    assert M.f1([0, 0, 0], [0, 0, 0]) == 0.0  # sklearn zero_division=0
    assert M.f1([1, 0, 0], [0, 0, 0]) == 0.0
    assert M.accuracy([1, 0, 0, 1], [1, 0, 1, 1]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="y_pred must be binary.*threshold="):
        M.f1([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="y_true must be binary.*intensity_to_occurrence"):
        M.f1([0, 3], [0, 1])


# ------------------------------------------------------------------------- streaming metrics

def _batches(seed=2, n_batches=4, batch=16, a=3, binary=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        if binary:
            t = (rng.random((batch, a)) < 0.35).astype("float32")
            p = np.clip(0.5 * t + 0.7 * rng.random((batch, a)), 0, 1).astype("float32")
        else:
            t = rng.integers(0, 6, size=(batch, a)).astype("float32")
            p = np.clip(t + rng.normal(0, 1.2, size=(batch, a)), 0, 5).astype("float32")
        m = (rng.random((batch, a)) > 0.3).astype("float32")
        out.append((t, p, m))
    return out


def _concat(batches):
    return [np.concatenate(x) for x in zip(*batches)]


@pytest.mark.parametrize("metric_cls,fn", [(M.ICC, M.icc), (M.MaskedMAE, M.mae)])
def test_streaming_equals_numpy_on_concatenation(metric_cls, fn):
    batches = _batches()
    metric = metric_cls(3)
    for t, p, m in batches:
        metric.update_state(t, p, sample_weight=m)
    t, p, m = _concat(batches)
    expected = fn(t, p, m.astype(bool))
    np.testing.assert_allclose(np.asarray(metric.per_au()), expected, rtol=1e-6, atol=1e-6)
    assert float(metric.result()) == pytest.approx(expected.mean(), rel=1e-6)
    metric.reset_state()
    assert np.isnan(np.asarray(metric.per_au())).all()


def test_streaming_f1_equals_numpy_and_accepts_pipeline_dicts():
    batches = _batches(binary=True)
    metric = M.F1Score(3, threshold=0.5)
    for t, p, m in batches:
        metric.update_state({"labels": t, "label_mask": m}, {"au": p, "maps": None})
    t, p, m = _concat(batches)
    expected = M.f1(t, p, m, threshold=0.5)
    np.testing.assert_allclose(np.asarray(metric.per_au()), expected, rtol=1e-6)
    assert float(metric.result()) == pytest.approx(expected.mean(), rel=1e-6)


def test_streaming_icc_degenerate_and_per_sample_weights():
    metric = M.ICC(2)
    t = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], "float32")
    p = np.array([[3.0, 0.0], [3.0, 1.5], [3.0, 2.5]], "float32")
    metric.update_state(t, p, sample_weight=np.array([1.0, 1.0, 0.0], "float32"))  # [B] weights
    per_au = np.asarray(metric.per_au())
    assert math.isnan(per_au[0])  # both columns constant
    assert per_au[1] == pytest.approx(M.icc(t[:2, 1], p[:2, 1]))
    assert float(metric.result()) == pytest.approx(per_au[1])  # nan AUs are skipped


def test_streaming_float32_accumulators_close_to_numpy():
    batches = _batches(seed=3, n_batches=6)
    metric = M.ICC(3, accumulator_dtype="float32")
    for t, p, m in batches:
        metric.update_state(t, p, m)
    t, p, m = _concat(batches)
    np.testing.assert_allclose(np.asarray(metric.per_au()), M.icc(t, p, m), atol=1e-4)


def test_metrics_in_model_evaluate_and_config_round_trip():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = rng.integers(0, 6, size=(48, 2)).astype("float32")
    w = (rng.random((48, 2)) > 0.2).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    # Element-wise loss so that Keras accepts [B, A] sample weights (the label mask).
    # Keras 3 passes sample_weight only to `weighted_metrics`.
    model.compile(loss=lambda t, p: (t - p) ** 2, weighted_metrics=[M.ICC(2), M.MaskedMAE(2)])
    logs = model.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["icc"] == pytest.approx(M.icc(y, pred, w).mean(), abs=1e-5)
    assert logs["mae"] == pytest.approx(M.mae(y, pred, w).mean(), abs=1e-5)
    clone = M.F1Score.from_config(M.F1Score(4, threshold=0.3, name="f1x").get_config())
    assert (clone.n_aus, clone.threshold, clone.name) == (4, 0.3, "f1x")


# ----------------------------------------------------------------------- evaluate and tables

def test_evaluate_intensity_masks_unknown_label():
    proto = aus.get_protocol("bp4d_intensity")
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 6, size=(30, 5)).astype(float)
    y_pred = np.clip(y_true + rng.normal(0, 1, size=y_true.shape), 0, 5)
    y_true[:4, 2] = 9  # BP4D's unknown
    res = M.evaluate(y_true, y_pred, None, proto)
    assert res["aus"] == ["AU06", "AU10", "AU12", "AU14", "AU17"]
    assert res["n_labelled"]["AU12"] == 26 and res["n_labelled"]["AU06"] == 30
    assert res["icc"]["AU12"] == pytest.approx(M.icc(y_true[4:, 2], y_pred[4:, 2]))
    assert res["mae"]["avg"] == pytest.approx(np.mean([res["mae"][a] for a in res["aus"]]))
    with pytest.raises(ValueError, match=r"\[n, 5\].*bp4d_intensity"):
        M.evaluate(y_true[:, :4], y_pred[:, :4], None, proto)


def test_evaluate_occurrence_thresholds_probabilities():
    proto = aus.get_protocol("disfa_occurrence")
    y_true = np.zeros((4, 8))
    y_true[:2, 0] = 1
    prob = np.full((4, 8), 0.1)
    prob[0, 0], prob[2, 0] = 0.9, 0.7  # tp=1, fp=1, fn=1 on AU01
    res = M.evaluate(y_true, prob, np.ones((4, 8)), "disfa_occurrence")
    assert res["f1"]["AU01"] == pytest.approx(0.5)
    assert res["accuracy"]["AU01"] == pytest.approx(0.5)
    assert res["f1"]["AU02"] == 0.0 and res["accuracy"]["AU02"] == 1.0
    assert res["f1"]["avg"] == pytest.approx(0.5 / 8)
    assert res["threshold"] == 0.5 and res["task"] == proto.task


def _intensity_results():
    return {
        "protocol": "bp4d_intensity", "task": "intensity",
        "aus": ["AU06", "AU10", "AU12", "AU14", "AU17"],
        "icc": {"AU06": 0.7449, "AU10": 0.825, "AU12": 0.86, "AU14": -0.0012, "AU17": float("nan"),
                "avg": 0.6071},
        "mae": {"AU06": 0.585, "AU10": 0.6, "AU12": 0.5, "AU14": 1.0, "AU17": 0.4, "avg": 0.617},
    }


def test_render_table_intensity_exact_markdown():
    expected = (
        "### BP4D intensity\n"
        "\n"
        "| Metric | AU06 | AU10 | AU12 | AU14 | AU17 | Avg |\n"
        "|:--|--:|--:|--:|--:|--:|--:|\n"
        "| ICC | 0.74 | 0.82 | 0.86 | 0.00 | - | 0.61 |\n"
        "| MAE | 0.58 | 0.60 | 0.50 | 1.00 | 0.40 | 0.62 |\n"
    )
    # Python rounds half to even on the binary value: 0.825 -> 0.82, 0.585 -> 0.58.
    assert M.render_table(_intensity_results(), "bp4d_intensity", title="BP4D intensity") == expected


def test_render_table_occurrence_percent_and_methods():
    proto = aus.get_protocol("disfa_occurrence")
    y_true = np.zeros((4, 8))
    y_true[:2, 0] = 1
    prob = np.full((4, 8), 0.1)
    prob[0, 0], prob[2, 0] = 0.9, 0.7
    res = M.evaluate(y_true, prob, None, proto)
    table = M.render_table({"ours": res, "copy": res}, metrics=["f1"])
    expected = (
        "| Metric | Method | AU01 | AU02 | AU04 | AU06 | AU09 | AU12 | AU25 | AU26 | Avg |\n"
        "|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
        "| F1 (%) | ours | 50.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 6.2 |\n"
        "| F1 (%) | copy | 50.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 6.2 |\n"
    )
    assert table == expected
    with pytest.raises(ValueError, match="not protocol 'bp4d_intensity'"):
        M.render_table(res, "bp4d_intensity")


def test_results_to_json_round_trip_with_nan_as_null():
    res = _intensity_results()
    text = M.results_to_json(res)
    back = json.loads(text)
    assert back["icc"]["AU17"] is None
    assert back["mae"]["AU10"] == 0.6 and back["aus"] == res["aus"]
