"""Section ``ratios``: each model against its baseline, layers against their explicit forms, and
per-AU models' one-pass inference against a loop over the AUs.

- model / baseline training step and inference, timed interleaved (A B A B ...): the baseline
  is what the model class declares (``benchmark_baseline``: another registered model or a
  variant of itself) or the registered model it extends (``benchmarks.settings.baseline_of``);
- decomposed / naive ``SCCLayer`` at the deconvolution head's real sizes (forward, and forward +
  backward): the explicit ``[HW, k, C]`` edge tensor against the neighbour projections;
- one-pass / per-AU loop inference of every model whose backbone is conditioned on the AU (class
  attribute ``conditioned``; one AU per batch in training): all AUs folded into one batch
  against A passes of batch B.
"""
from __future__ import annotations

import gc

from benchmarks.common import check_target, fmt, load_average, print_table, tf_module, time_interleaved
from benchmarks.flops import graph_flops
from benchmarks.models import model_batch
from benchmarks.settings import HEAD_FILTERS, baseline_of

# Neighbours per node of the layer ratio: the paper's k on BP4D (SCC-Heatmap section 4.1), the
# value the model uses on the bench's BP4D protocols.
SCC_K = 5


def pairs(settings):
    """``[(model, baseline key, baseline registry name, options)]`` of the benchmarked models."""
    out = []
    for name in settings.models:
        base = baseline_of(name)
        if base is None:
            continue
        key, base_name, options = base
        if not options and base_name not in settings.models:
            continue  # the baseline is not benchmarked in this run
        out.append((name, key, base_name, options))
    return out


def keep_live(settings):
    """Models whose compiled functions the ratios re-time (kept after their row)."""
    keys = set()
    for name, key, _, _ in pairs(settings):
        keys.update((name, key))
    return keys


def layer_times(settings):
    """Decomposed vs naive SCCLayer at the head's sizes (ResNet-50 head at image_size)."""
    import numpy as np

    from tfau.backbones import scaled_channels
    from tfau.layers import SCCLayer

    tf = tf_module()
    s = settings
    stages = []
    for i, f in enumerate(HEAD_FILTERS):
        h = s.image_size // 2 ** (4 - i)
        stages.append((h, scaled_channels(f, s.width)))
    out = []
    rng = np.random.default_rng(0)
    for h, c in stages:
        x = tf.constant(np.maximum(rng.normal(0, 1, (s.batch, h, h, c)), 0).astype("float32"))
        entry = {"h": h, "w": h, "c": c, "k": SCC_K, "batch": s.batch}
        fns = {}
        for naive in (False, True):
            layer = SCCLayer(k=SCC_K, naive=naive)
            layer.build(x.shape)
            weights = layer.trainable_variables

            def fwd(x=x, layer=layer):
                return layer(x, training=False)

            def fwd_bwd(x=x, layer=layer, weights=weights):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = layer(x, training=True)
                    loss = tf.reduce_sum(y)
                return tape.gradient(loss, [x] + weights)

            tag = "naive" if naive else "decomposed"
            fns[tag] = (tf.function(fwd), tf.function(fwd_bwd))
            entry[f"{tag}_gflops_fwd"] = graph_flops(
                fns[tag][0].get_concrete_function().graph)[0] / 1e9
            entry[f"{tag}_gflops_train"] = graph_flops(
                fns[tag][1].get_concrete_function().graph)[0] / 1e9
        td, tn = time_interleaved([fns["decomposed"][0], fns["naive"][0]], s.infer_iters, s.warmup)
        entry["decomposed_fwd_s"], entry["naive_fwd_s"] = td["best_s"], tn["best_s"]
        td, tn = time_interleaved([fns["decomposed"][1], fns["naive"][1]], s.train_iters, s.warmup)
        entry["decomposed_train_s"], entry["naive_train_s"] = td["best_s"], tn["best_s"]
        del fns
        gc.collect()
        out.append(entry)
    return out


def per_au_times(bench, name):
    """One-pass (all AUs folded into the batch) vs per-AU loop inference of model ``name``.

    The loop is what a model trained one AU per batch would run without folding: A passes of
    batch B through ``model._logits(image, au_index)``, AU a read from pass a, decoded by
    ``model._decode``."""
    import keras

    tf = tf_module()
    s = bench.s
    model = bench.build(name)
    serving = model.serving_model()
    a = model.n_aus
    b = s.batch

    def one_pass(image):
        return serving(image, training=False)["au"]

    def per_au_loop(image):
        cols = []
        for i in range(a):
            index = tf.fill((tf.shape(image)[0],), i)
            logits = model._logits(image, index, training=False)  # [B, A, n]
            cols.append(logits[:, i])
        return model._decode(tf.stack(cols, axis=1))

    image = model_batch(model, b)[0]["image"]
    f1, f2 = tf.function(one_pass), tf.function(per_au_loop)
    same = float(tf.reduce_max(tf.abs(f1(image) - f2(image))))
    t1, t2 = time_interleaved([lambda: f1(image), lambda: f2(image)], s.infer_iters + 1, s.warmup)
    del model, serving
    keras.backend.clear_session()
    gc.collect()
    return {"model": name, "n_aus": a, "batch": b, "one_pass_s": t1["best_s"],
            "per_au_loop_s": t2["best_s"], "ratio": t1["best_s"] / t2["best_s"],
            "max_abs_diff": same}


def run(bench):
    s = bench.s
    out = {"targets": [], "pairs": [], "per_au": []}
    rows = []
    for name, key, base_name, options in pairs(s):
        if options:
            bench.variants[key] = (base_name, options)
        r = tg = tb = None
        how = "skipped"
        if not options or s.variant_train_ratio:
            tg, tb, how = bench.interleaved(name, key, "train")
            r = tg / tb
        itg, itb, how_i = bench.interleaved(name, key, "infer")
        bench.release(name, key)
        ri = itg / itb
        out["pairs"].append({"model": name, "baseline": key, "train_step": r, "inference": ri,
                             "timing": how_i if r is None else how, "train_s": [tg, tb],
                             "infer_s": [itg, itb]})
        bound = not options  # the bound is for a model extending another registered model
        note = "full mode only" if r is None else "<= 1.15" if bound else ""
        rows.append([f"{name} / {key} train step", r, note])
        rows.append([f"{name} / {key} inference", ri, ""])
        if bound and r is not None:
            out["targets"].append(dict(check_target("step_vs_baseline", r), model=name))
    layers = layer_times(s)
    fwd = sum(e["decomposed_fwd_s"] for e in layers) / sum(e["naive_fwd_s"] for e in layers)
    trn = sum(e["decomposed_train_s"] for e in layers) / sum(e["naive_train_s"] for e in layers)
    out["scc_layer"] = {"stages": layers, "forward": fwd, "train": trn}
    for e in layers:
        rows.append([f"  SCC {e['h']}x{e['w']}x{e['c']} decomposed/naive fwd | fwd+bwd",
                     e["decomposed_fwd_s"] / e["naive_fwd_s"],
                     fmt(e["decomposed_train_s"] / e["naive_train_s"])])
    rows.append(["SCC layers decomposed / naive, forward", fwd, "<= 0.3"])
    rows.append(["SCC layers decomposed / naive, fwd+bwd", trn, "<= 0.3"])
    out["targets"].append(dict(check_target("layer_vs_naive", fwd), what="SCC forward"))
    out["targets"].append(dict(check_target("layer_vs_naive", trn), what="SCC fwd+bwd"))
    from tfau.models import model_class

    for name in s.models:
        if not getattr(model_class(name), "conditioned", False):
            continue
        rn = per_au_times(bench, name)
        out["per_au"].append(rn)
        rows.append([f"{name} one-pass / per-AU loop inference ({rn['n_aus']} AUs)",
                     rn["ratio"], f"max|diff| {rn['max_abs_diff']:.1e}"])
    bench.release(*list(bench.live))
    out["load_average"] = load_average()
    print_table("ratios (pairs timed interleaved, best of each)",
                ["ratio", "value", "target / note"], rows)
    return out

