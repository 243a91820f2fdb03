"""Section ``memory``: peak memory of SpectralGraphConv against an explicit-A version (forms the
``[HW, HW]`` A, D and Laplacian) and of the decomposed against the naive SCC layer, over several
map sizes.

Each variant runs in a fresh subprocess (``python -m benchmarks --memory-child JOB``): peak RSS
during one forward + backward minus the RSS after the inputs, weights and traced function exist
(Linux ``VmHWM`` reset through ``/proc/self/clear_refs``; ``ru_maxrss`` otherwise), plus an
analytic count (bytes of every tensor of the traced graph); a plain 1x1 conv with the same input
/ output (``dense``) gives the memory any layer over the map needs, so ``(sgc - dense) /
(explicit_a - dense)`` is the graph operator's own share.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time

from benchmarks.common import check_target, load_average, print_table, sync, tf_module
from benchmarks.flops import graph_tensor_bytes
from benchmarks.settings import HRNET_X0_CHANNELS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(settings):
    s = settings
    c_sgc = max(8, int(round(HRNET_X0_CHANNELS * s.width)))
    jobs = []
    for h in s.memory_sizes:
        # "dense": X0 Theta + ReLU with the same input / output, what any layer over X0
        # costs; the marginal ratio (sgc - dense) / (explicit_a - dense) is the graph's own.
        for variant in ("sgc", "explicit_a", "dense"):
            jobs.append({"variant": variant, "h": h, "c": c_sgc, "m": 12, "batch": s.memory_batch})
        # SCC at the head's channels for that map size (ResNet-50 head at 256 px:
        # 256 @ 16x16, 128 @ 32x32, 64 @ 64x64).
        c_scc = max(8, int(round(256 * 16 / max(h, 16) * s.width)))
        for variant in ("scc_decomposed", "scc_naive"):
            jobs.append({"variant": variant, "h": h, "c": c_scc, "k": 5, "batch": s.memory_batch})
    results = []
    for job in jobs:
        res = run_memory_child(job)
        results.append({**job, **res})
    by = {(r["variant"], r["h"]): r for r in results}
    rows = []
    out = {"method": "peak RSS (VmHWM after clear_refs, else ru_maxrss) minus RSS after "
                     "inputs/weights/trace/warm-up call, one forward+backward, fresh subprocess "
                     "per variant; analytic = bytes of every op output of the traced graph "
                     "(no reuse)",
           "runs": results, "targets": [], "pairs": []}

    def ratio(x, y):
        return x / y if x is not None and y else None

    for pair in (("sgc", "explicit_a"), ("scc_decomposed", "scc_naive")):
        for h in s.memory_sizes:
            a, b = by[(pair[0], h)], by[(pair[1], h)]
            r, ar = ratio(a["delta_mb"], b["delta_mb"]), ratio(a["analytic_mb"], b["analytic_mb"])
            marginal = None
            if pair[0] == "sgc":
                d = by[("dense", h)]
                if None not in (a["delta_mb"], b["delta_mb"], d["delta_mb"]):
                    marginal = ratio(max(a["delta_mb"] - d["delta_mb"], 0.0),
                                     b["delta_mb"] - d["delta_mb"])
            out["pairs"].append({"pair": pair, "h": h, "rss_ratio": r, "analytic_ratio": ar,
                                 "marginal_rss_ratio": marginal})
            rows.append([f"{pair[0]} / {pair[1]}", f"{h}x{h}", a["c"], a["delta_mb"],
                         b["delta_mb"], r, by[("dense", h)]["delta_mb"] if marginal is not None
                         else None, marginal, a["analytic_mb"], b["analytic_mb"], ar])
            if pair[0] == "sgc" and h == 64:
                for what, v in (("RSS", r), ("RSS over a 1x1 conv", marginal),
                                ("analytic", ar)):
                    out["targets"].append(dict(check_target("sgc_vs_explicit_a_memory_64", v),
                                               what=what))
    out["load_average"] = load_average()
    print_table(
        f"peak memory, batch {s.memory_batch}, forward + backward (MB; a / b)",
        ["a / b", "HxW", "C", "RSS a", "RSS b", "a/b", "RSS 1x1", "(a-1x1)/(b-1x1)",
         "analytic a", "analytic b", "a/b"],
        rows,
    )
    return out



def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def explicit_a_sgc(layer, inputs):
    """SpectralGraphConv with A, D and the Laplacian formed explicitly ([B, HW, HW]).

    Same weights and the same maths as ``SpectralGraphConv.call`` (its scale normalisation of
    Phi and Lambda, its floor on the degrees, bias before activation); the benchmark's reference
    for memory and a test oracle.
    """
    tf = tf_module()
    b = tf.shape(inputs)[0]
    c = inputs.shape[-1]
    x = tf.reshape(inputs, (b, -1, c))
    phi_logits = tf.matmul(x, layer.phi_kernel) + layer.phi_bias
    phi = tf.nn.softplus(phi_logits) if layer.phi_activation == "softplus" else tf.nn.relu(phi_logits)
    lam = tf.sigmoid(tf.matmul(tf.reduce_mean(x, axis=1), layer.lambda_kernel) + layer.lambda_bias)
    scale = tf.stop_gradient(tf.reduce_max(phi, axis=(1, 2), keepdims=True))
    phi_n = phi / tf.maximum(scale, 1e-30)
    lam = lam / tf.stop_gradient(tf.maximum(tf.reduce_max(lam, axis=1, keepdims=True), 1e-30))
    a = tf.matmul(phi_n * lam[:, None, :], phi_n, transpose_b=True)  # A [B, n, n]
    d = tf.reduce_sum(a, axis=-1)  # degrees
    dinv = tf.math.rsqrt(tf.maximum(d, layer.degree_floor))  # the layer's floor on the degrees
    n = tf.shape(a)[1]
    lap = tf.eye(n, batch_shape=[b]) - dinv[:, :, None] * a * dinv[:, None, :]
    out = tf.matmul(tf.matmul(lap, x), layer.theta)
    if layer.theta_bias is not None:
        out = out + layer.theta_bias
    out = layer.activation(out)
    return tf.reshape(out, tf.concat([tf.shape(inputs)[:-1], [layer._units]], 0))


def memory_child(job):
    import numpy as np

    tf = tf_module()
    from tfau.layers import SCCLayer, SpectralGraphConv

    h, c, batch = job["h"], job["c"], job["batch"]
    rng = np.random.default_rng(0)
    x = tf.constant(np.maximum(rng.normal(0, 1, (batch, h, h, c)), 0).astype("float32"))
    variant = job["variant"]
    if variant in ("sgc", "explicit_a", "dense"):
        layer = SpectralGraphConv(n_nodes=job["m"])
        layer.build(x.shape)
        if variant == "sgc":
            call = lambda t: layer(t)  # noqa: E731
        elif variant == "explicit_a":
            call = lambda t: explicit_a_sgc(layer, t)  # noqa: E731
        else:
            call = lambda t: tf.nn.relu(tf.einsum("bhwc,cd->bhwd", t, layer.theta))  # noqa: E731
    else:
        layer = SCCLayer(k=job["k"], naive=variant == "scc_naive")
        layer.build(x.shape)
        call = lambda t: layer(t, training=True)  # noqa: E731
    weights = layer.trainable_variables

    @tf.function
    def step(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(call(t))
        return tape.gradient(loss, [t] + weights)

    concrete = step.get_concrete_function(x)
    analytic = graph_tensor_bytes(concrete.graph)
    sync(step(x))  # warm-up: one-off allocations (thread pools, kernels) before the baseline
    gc.collect()
    baseline_kb = _rss_kb("VmRSS")
    method = "ru_maxrss"
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        method = "VmHWM"
    except OSError:
        pass
    ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    sync(step(x))
    seconds = time.perf_counter() - t0
    peak_kb = _rss_kb("VmHWM") if method == "VmHWM" else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss
    if method == "VmHWM" and peak_kb < baseline_kb:  # clear_refs not honoured
        method, peak_kb = "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"baseline_mb": baseline_kb / 1024, "peak_mb": peak_kb / 1024,
            "delta_mb": max(0.0, (peak_kb - baseline_kb) / 1024), "analytic_mb": analytic / 2**20,
            "rss_method": method, "ru_maxrss_before_mb": ru_before / 1024, "seconds": seconds}


def run_memory_child(job):
    env = dict(os.environ)
    # Large buffers always mmapped and returned on free: RSS follows live tensor bytes.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
    env.setdefault("MALLOC_TRIM_THRESHOLD_", "131072")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = env.get("TFAU_BENCH_MEMORY_GPU", "")  # host memory only
    # The child imports this folder as the package ``benchmarks``: run it from the repository.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--memory-child", json.dumps(job)],
        capture_output=True, text=True, env=env, cwd=REPO,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (proc.stderr or proc.stdout)[-2000:], "delta_mb": None, "analytic_mb": None}
