"""GPU benchmark on Keras's JAX backend (issue 15): needs only Keras + JAX + NumPy (no TensorFlow).

    KERAS_BACKEND=jax python benchmarks/gpu.py --json gpu.json       # the GPU run (< 5 min)
    KERAS_BACKEND=jax python benchmarks/gpu.py --tiny                # CPU dry run (the test's)

Figures, in this order (each printed with its name, all in the JSON):
1. ``matmul peak``: the chip's measured float32 / bfloat16 / float16 matrix-product rate
   (square N x N, N = 8192; best of the timed runs), the yardstick of the FLOP rates below.
   float32 uses XLA's default precision (TF32 tensor cores allowed on GPU), as the models do.
2. per model of the registry (``tfau.models.model_names()``; each at its default backbone, width 1,
   256 px, the batch of ``--batch``) and per precision (float32, mixed_bfloat16, mixed_float16):
   one XLA-compiled training step (Keras's own ``train_step`` under ``jax.jit``, Adam, the model's
   own losses) on synthetic features/targets dicts as the pipeline makes them:
   ``step ms``, ``img/s``, ``GFLOP/img`` (XLA's cost analysis of the compiled step), ``TFLOP/s``,
   ``of peak`` (the FLOP rate over the matmul peak of the step's dominant precision),
   ``memory GiB`` (the compiled step's arguments + outputs + temporaries, XLA's memory analysis)
   and ``compile s``; per model ``mixed/fp32`` (best mixed precision img/s over float32's).
   The process's ``peak GPU memory`` (the device's ``peak_bytes_in_use``) is printed at the end.
3. ``SCC decomposed/naive``: ``SCCLayer`` forward + backward at the deconvolution head's sizes
   (16/32/64 px x 256/128/64 channels, k = 5), the decomposed form over the explicit edge tensor.
4. ``SpectralGraphConv factored/explicit A``: the layer (never forms A) over the explicit
   ``[HW, HW]`` A = Phi Lambda Phi^T and Laplacian, forward + backward at 64 x 64 x 270 (HRNetV2-W18
   at H/4), 12 graph nodes.
5. ``targets``: mixed precision >= 2x float32 img/s; each model >= 40% of the matmul peak in its
   dominant (mixed) precision (issue 15).

A run stops starting new model configurations after ``--budget_s`` seconds (default 240) and lists
what it skipped, so a short device lease always brings back the peaks and the first models.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script from anywhere: tfau from this checkout
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
PEAK_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
TARGET_MIXED_SPEEDUP = 2.0
TARGET_PEAK_FRACTION = 0.40


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true",
                   help="CPU dry run: ResNet-18 x 0.125 at 32 px, batch 2, N = 256 matmuls")
    p.add_argument("--models", default="all", help="comma-separated registry names (default all)")
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--batch", type=int, default=None, help="default 32 (tiny: 2)")
    p.add_argument("--image_size", type=int, default=None, help="default 256 (tiny: 32)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10, tiny 2)")
    p.add_argument("--budget_s", type=float, default=240.0,
                   help="start no new model configuration after this many seconds")
    p.add_argument("--json", default=None, help="write every figure to this file")
    args = p.parse_args(argv)
    args.batch = args.batch or (2 if args.tiny else 32)
    args.image_size = args.image_size or (32 if args.tiny else 256)
    args.steps = args.steps or (2 if args.tiny else 10)
    args.precisions = [s for s in args.precisions.split(",") if s]
    bad = [s for s in args.precisions if s not in PRECISIONS]
    if bad:
        p.error(f"--precisions: unknown {bad}; choose from {PRECISIONS}")
    return args


def _block(tree):
    import jax

    return jax.block_until_ready(tree)


def _best_time(fn, steps, warmup=1):
    """Best and mean seconds of ``fn()`` (each call blocked until its result is ready)."""
    for _ in range(warmup):
        _block(fn())
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - t)
    return min(times), float(np.mean(times))


def _cost(compiled):
    """(flops, bytes of arguments + outputs + temporaries - aliased) of a compiled executable."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    flops = float((cost or {}).get("flops", float("nan")))
    mem = None
    try:
        m = compiled.memory_analysis()
        mem = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               - m.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every platform reports it
        pass
    return flops, mem


def matmul_peaks(n, steps):
    """Measured N x N x N matrix-product rate per dtype, TFLOP/s."""
    import jax
    import jax.numpy as jnp

    out = {}
    key = jax.random.PRNGKey(0)
    for dtype in ("float32", "bfloat16", "float16"):
        a = jax.random.normal(key, (n, n), jnp.float32).astype(dtype)
        b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32).astype(dtype)
        f = jax.jit(lambda x, y: x @ y)
        best, _ = _best_time(lambda: f(a, b), steps, warmup=2)
        out[dtype] = 2.0 * n ** 3 / best / 1e12
    return out


def protocol_for(name):
    """A protocol of the model's first supported task (asked of the registry)."""
    from tfau.models import model_class

    return f"bp4d_{model_class(name).supported_tasks[0]}"


def bench_model(name, precision, args, peaks):
    """One XLA-compiled training step of ``name`` under ``precision``."""
    import jax
    import keras

    from tfau.models import build_model
    from tfau.testing import model_harness

    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        kwargs = ({"backbone": "resnet18", "width": 0.125} if args.tiny else {})
        model = build_model(name, protocol_for(name), image_size=args.image_size, **kwargs)
        features, targets = model_harness.batch(model, n=args.batch)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=True)
        data = (features, targets)
        try:  # builds optimizer and metric variables without compiling Keras's own step
            model._symbolic_build(data_batch=data)
        except AttributeError:  # a Keras without it: one eager-compiled step instead
            model.train_on_batch(features, targets)
        state = ([v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables],
                 [v.value for v in model.optimizer.variables],
                 [v.value for v in model.metrics_variables])
        data = jax.device_put(data)
        t = time.perf_counter()
        compiled = jax.jit(model.train_step, donate_argnums=0).lower(state, data).compile()
        compile_s = time.perf_counter() - t
        flops, mem = _cost(compiled)
        holder = {"state": state}

        def step():
            logs, holder["state"] = compiled(holder["state"], data)
            return logs

        best, mean = _best_time(step, args.steps, warmup=2)
        logs = step()
        loss = float(np.asarray(logs["loss"]))
        params = model.count_params()
    finally:
        keras.config.set_dtype_policy("float32")
    peak = peaks[PEAK_DTYPE[precision]]
    tflops = flops / best / 1e12
    return {
        "model": name, "precision": precision, "backbone": model.backbone_name,
        "batch": args.batch, "image_size": args.image_size, "params": params,
        "step_ms": best * 1e3, "step_ms_mean": mean * 1e3, "img_per_s": args.batch / best,
        "gflop_per_img": flops / args.batch / 1e9, "tflop_per_s": tflops,
        "of_peak": tflops / peak, "peak_dtype": PEAK_DTYPE[precision],
        "memory_gib": None if mem is None else mem / 2 ** 30, "compile_s": compile_s,
        "loss": loss, "finite": bool(np.isfinite(loss)),
    }


def _fwd_bwd(layer, x):
    """jit(value_and_grad) of sum(layer(x)) over the layer's weights and x."""
    import jax

    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]

    kwargs = {"training": True} if getattr(layer, "_call_has_training_arg", True) else {}

    def loss(tv, x):
        out, _ = layer.stateless_call(tv, ntv, x, **kwargs)
        out = out[0] if isinstance(out, (list, tuple)) else out
        return (out.astype("float32") ** 2).sum()

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return lambda: f(tv, x)


def scc_ratio(args):
    """Decomposed over naive SCCLayer, forward + backward, at the head's sizes."""
    import jax.numpy as jnp

    from tfau.backbones import DEFAULT_HEAD_FILTERS, scaled_channels
    from tfau.layers import SCCLayer

    width = 0.125 if args.tiny else 1.0
    rows = []
    rng = np.random.default_rng(0)
    for i, filters in enumerate(DEFAULT_HEAD_FILTERS):
        h = args.image_size // 2 ** (4 - i)
        c = scaled_channels(filters, width)
        x = jnp.asarray(np.maximum(rng.normal(0, 1, (args.batch, h, h, c)), 0), "float32")
        times = {}
        for naive in (False, True):
            layer = SCCLayer(k=5, naive=naive)
            layer.build(x.shape)
            times[naive] = _best_time(_fwd_bwd(layer, x), args.steps, warmup=1)[0]
        rows.append({"h": h, "c": c, "k": 5, "decomposed_ms": times[False] * 1e3,
                     "naive_ms": times[True] * 1e3, "ratio": times[False] / times[True]})
    total = sum(r["decomposed_ms"] for r in rows) / sum(r["naive_ms"] for r in rows)
    return {"stages": rows, "ratio": total}


def spectral_ratio(args):
    """SpectralGraphConv (factored) over the explicit-A form, forward + backward."""
    import jax
    import jax.numpy as jnp

    from tfau.layers import SpectralGraphConv

    h, c, m = (8, 16, 12) if args.tiny else (args.image_size // 4, 270, 12)
    x = jnp.asarray(np.random.default_rng(0).normal(0, 1, (args.batch, h, h, c)), "float32")
    layer = SpectralGraphConv(n_nodes=m)
    layer.build(x.shape)
    factored = _best_time(_fwd_bwd(layer, x), args.steps, warmup=1)[0]

    def explicit(w, x):
        """A = Phi Lambda Phi^T [B, n, n], D = A 1, X1 = ReLU((I - D^-1/2 A D^-1/2) X0 Theta)."""
        x0 = x.reshape(x.shape[0], -1, x.shape[-1])
        phi = jax.nn.softplus(x0 @ w["phi_kernel"] + w["phi_bias"])
        lam = jax.nn.sigmoid(x0.mean(1) @ w["lambda_kernel"] + w["lambda_bias"])
        a = jnp.einsum("bim,bm,bjm->bij", phi, lam, phi)
        d = jax.lax.rsqrt(jnp.maximum(a.sum(-1), 1e-12))
        lx = x0 - d[:, :, None] * (a @ (d[:, :, None] * x0))
        return (jax.nn.relu(lx @ w["theta_kernel"]) ** 2).sum()

    w = {v.path.split("/")[-1]: v.value for v in layer.trainable_variables}
    f = jax.jit(jax.value_and_grad(explicit, argnums=(0, 1)))
    dense = _best_time(lambda: f(w, x), args.steps, warmup=1)[0]
    return {"h": h, "w": h, "c": c, "nodes": m, "factored_ms": factored * 1e3,
            "explicit_ms": dense * 1e3, "ratio": factored / dense,
            "explicit_a_gib": args.batch * (h * h) ** 2 * 4 / 2 ** 30}


def _fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def main(argv=None):
    args = parse_args(argv)
    import jax
    import keras

    if keras.backend.backend() != "jax":
        sys.exit(f"benchmarks/gpu.py runs on Keras's JAX backend; KERAS_BACKEND is "
                 f"{keras.backend.backend()!r} (set KERAS_BACKEND=jax)")
    from tfau.models import model_names

    names = list(model_names()) if args.models == "all" else args.models.split(",")
    unknown = [n for n in names if n not in model_names()]
    if unknown:
        sys.exit(f"--models: unknown {unknown}; known: {list(model_names())}")
    t0 = time.perf_counter()
    dev = jax.devices()[0]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "KERAS_BACKEND=jax python benchmarks/gpu.py " + " ".join(sys.argv[1:]),
        "device": f"{dev.platform}: {getattr(dev, 'device_kind', '?')}",
        "versions": {"keras": keras.__version__, "jax": jax.__version__,
                     "python": platform.python_version()},
        "tiny": args.tiny, "models": [], "skipped": [],
    }
    print(f"device {result['device']}; keras {keras.__version__}, jax {jax.__version__}")

    n = 256 if args.tiny else 8192
    peaks = matmul_peaks(n, 3 if args.tiny else 10)
    result["matmul_peak_tflops"] = peaks
    result["matmul_n"] = n
    print(f"matmul peak (N={n}): " + ", ".join(f"{k} {v:.1f} TFLOP/s" for k, v in peaks.items()))

    header = ("model", "precision", "step ms", "img/s", "GFLOP/img", "TFLOP/s", "of peak",
              "memory GiB", "compile s")
    print(" | ".join(header))
    # each model's first two precisions (float32, bf16) together, float16 last: a run cut off by
    # --budget_s keeps whole float32/mixed pairs
    order = [(m, p) for m in names for p in args.precisions[:2]]
    order += [(m, p) for p in args.precisions[2:] for m in names]
    for name, precision in order:
        if time.perf_counter() - t0 > args.budget_s:
            result["skipped"].append(f"{name} {precision}")
            continue
        try:
            r = bench_model(name, precision, args, peaks)
        except Exception as err:  # noqa: BLE001 - one model's failure must not lose the others
            r = {"model": name, "precision": precision, "error": f"{type(err).__name__}: {err}"}
            print(f"{name} | {precision} | error: {r['error'][:300]}")
        else:
            print(" | ".join([name, precision, _fmt(r["step_ms"], ".1f"), _fmt(r["img_per_s"], ".1f"),
                              _fmt(r["gflop_per_img"], ".1f"), _fmt(r["tflop_per_s"], ".1f"),
                              _fmt(r["of_peak"], ".0%"), _fmt(r["memory_gib"], ".2f"),
                              _fmt(r["compile_s"], ".0f")]), flush=True)
        result["models"].append(r)
    if result["skipped"]:
        print(f"skipped (budget {args.budget_s:.0f} s): {', '.join(result['skipped'])}")

    # mixed / float32 per model, and the targets
    ok = {(r["model"], r["precision"]): r for r in result["models"] if "error" not in r}
    speedups, targets = {}, []
    for name in names:
        fp32 = ok.get((name, "float32"))
        mixed = [ok[(name, p)] for p in args.precisions if p != "float32" and (name, p) in ok]
        if fp32 and mixed:
            best = max(mixed, key=lambda r: r["img_per_s"])
            speedups[name] = {"precision": best["precision"],
                              "speedup": best["img_per_s"] / fp32["img_per_s"]}
            print(f"mixed/fp32 {name}: {speedups[name]['speedup']:.2f}x ({best['precision']})")
            targets.append({"what": f"mixed/fp32 {name}", "value": speedups[name]["speedup"],
                            "target": f">= {TARGET_MIXED_SPEEDUP}",
                            "met": speedups[name]["speedup"] >= TARGET_MIXED_SPEEDUP})
        if mixed:
            best = max(mixed, key=lambda r: r["of_peak"])
            targets.append({"what": f"of peak {name} ({best['precision']})", "value": best["of_peak"],
                            "target": f">= {TARGET_PEAK_FRACTION:.0%}",
                            "met": best["of_peak"] >= TARGET_PEAK_FRACTION})
    result["mixed_over_fp32"] = speedups

    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - CPU devices may not report
        stats = {}
    peak_mem = stats.get("peak_bytes_in_use")
    result["peak_gpu_memory_gib"] = None if peak_mem is None else peak_mem / 2 ** 30
    print(f"peak GPU memory (process, all runs): {_fmt(result['peak_gpu_memory_gib'], '.2f')} GiB")

    for label, fn, key in (("SCC decomposed/naive", scc_ratio, "scc"),
                           ("SpectralGraphConv factored/explicit A", spectral_ratio, "spectral")):
        try:
            result[key] = fn(args)
            print(f"{label} (fwd+bwd): {result[key]['ratio']:.3f}")
        except Exception as err:  # noqa: BLE001
            result[key] = {"error": f"{type(err).__name__}: {err}"}
            print(f"{label}: error: {result[key]['error'][:300]}")
    for t in targets:
        print(f"target {t['what']}: {t['value']:.2f} ({t['target']}) {'met' if t['met'] else 'NOT met'}")
    result["targets"] = targets
    result["wall_s"] = time.perf_counter() - t0
    print(f"wall {result['wall_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=float)
    failed = [r for r in result["models"] if "error" in r or not r.get("finite", True)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
