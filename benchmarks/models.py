"""Sections ``peak`` (matmul GFLOP/s), ``models`` (parameters, FLOPs, images/s and fraction of
peak per model, inference and training step), ``precision`` (mixed vs float32, GPU only) and the
``--profile`` traces. :class:`ModelBench` keeps the measured rows and, for the ratios, the
compiled functions of the models a ratio re-times.

Batches come from the shared test harness (``tfau.testing.model_harness.batch``): every feature
and target the model declares, targets made by ``tfau.targets`` as the pipeline makes them.
"""
from __future__ import annotations

import gc
import os
import time

from benchmarks.common import (check_target, fmt, has_gpu, load_average, print_table, sync,
                               tf_module, time_calls, time_interleaved)
from benchmarks.flops import graph_flops, summarize_trace
from benchmarks.settings import REFERENCE


def model_batch(model, batch, seed=0):
    """``(features, targets)`` tensors for ``model`` from the shared harness batch maker."""
    from tfau.testing import model_harness

    tf = tf_module()
    features, targets = model_harness.batch(model, n=batch, seed=seed)
    to_tensor = lambda d: {k: tf.constant(v) for k, v in d.items()}  # noqa: E731
    return to_tensor(features), to_tensor(targets)


class ModelBench:
    def __init__(self, settings):
        self.s = settings
        self.peak = None  # float32 GFLOP/s
        self.rows = {}  # model key -> measured row
        self.live = {}  # model key -> (model, {"train": fn, "infer": fn}) kept for the ratios
        self.keep = set()  # models the ratios re-time: kept compiled after their row
        self.results = {}
        self.variants = {}  # key -> (registry name, options): a model with options changed

    # -------------------------------------------------------------------------------- peak

    def matmul_peak(self, device="/CPU:0", dtypes=("float32",), sizes=None):
        """Best GFLOP/s of ``tf.linalg.matmul`` over square sizes and runs (sizes interleaved:
        Eigen's rate on CPU depends on n, e.g. 130 / 108 / 77 GFLOP/s at 1024 / 2048 / 4096
        here)."""
        tf = tf_module()
        s = self.s
        sizes = sizes or s.matmul_sizes
        out = {}
        for dt in dtypes:
            fns = []
            with tf.device(device):
                for n in sizes:
                    a = tf.cast(tf.random.uniform((n, n)), dt)
                    b = tf.cast(tf.random.uniform((n, n)), dt)
                    fns.append(tf.function(lambda a=a, b=b: tf.linalg.matmul(a, b)))
                times = time_interleaved(fns, s.matmul_runs, 1)
            per_n = {n: 2.0 * n**3 / t["best_s"] / 1e9 for n, t in zip(sizes, times)}
            best_n = max(per_n, key=per_n.get)
            out[dt] = {"gflops": per_n[best_n], "n": best_n, "per_n": per_n}
        return out

    def run_peak(self):
        s = self.s
        out = {"cpu_float32": self.matmul_peak()["float32"]}
        rows = [["cpu float32", n, g] for n, g in out["cpu_float32"]["per_n"].items()]
        if has_gpu():
            sizes = tuple(sorted({max(n, 4096) for n in s.matmul_sizes} | {8192}))
            for dt, r in self.matmul_peak("/GPU:0", ("float32", "bfloat16", "float16"), sizes).items():
                out[f"gpu_{dt}"] = r
                rows += [[f"gpu {dt}", n, g] for n, g in r["per_n"].items()]
        # The fraction of peak compares with the device the models run on.
        self.peak = out["gpu_float32"]["gflops"] if has_gpu() else out["cpu_float32"]["gflops"]
        out["reference_gflops"] = self.peak
        out["load_average"] = load_average()
        print_table(f"matmul peak (best: {fmt(self.peak)} GFLOP/s)", ["what", "n", "GFLOP/s"], rows)
        self.results["peak"] = out
        return out

    def remeasure_peak(self):
        """Measures the CPU/GPU float32 peak again (after the models) and keeps the higher one,
        so a load spike during the first measurement cannot inflate the fractions."""
        device = "/GPU:0" if has_gpu() else "/CPU:0"
        sizes = tuple(sorted({max(n, 4096) for n in self.s.matmul_sizes} | {8192})) if has_gpu() \
            else None
        again = self.matmul_peak(device, ("float32",), sizes)["float32"]["gflops"]
        peak = self.results["peak"]
        peak["remeasured_gflops"] = again
        if again > self.peak:
            self.peak = again
            peak["reference_gflops"] = again
        return self.peak

    def ensure_peak(self):
        if self.peak is None:
            self.results["peak"] = self.run_peak()
        return self.peak

    # -------------------------------------------------------------------------------- models

    def build(self, key):
        import keras

        from tfau.models import build_model

        s = self.s
        if key == REFERENCE:
            return keras.applications.ResNet50(
                include_top=False, weights=None, input_shape=(s.image_size, s.image_size, 3)
            )
        name, extra = self.variants.get(key, (key, {}))
        kwargs = {"image_size": s.image_size, "width": s.width}
        if s.backbone:
            kwargs["backbone"] = s.backbone
        kwargs.update(extra)
        return build_model(name, s.protocol(name), **kwargs)

    def _serving(self, key, model):
        return model if key == REFERENCE else model.serving_model()

    def _train_setup(self, key, model):
        """(compiled model, data) for the train step."""
        import keras
        import numpy as np

        tf = tf_module()
        s = self.s
        b, size = s.batch, s.image_size
        if key == REFERENCE:
            image = keras.Input((size, size, 3))
            logits = keras.layers.Dense(12)(keras.layers.GlobalAveragePooling2D()(model(image)))
            trainable = keras.Model(image, logits)
            trainable.compile(optimizer=keras.optimizers.Adam(1e-4),
                              loss=keras.losses.BinaryCrossentropy(from_logits=True),
                              jit_compile=s.jit)
            rng = np.random.default_rng(0)
            x = tf.constant(rng.uniform(0, 255, (b, size, size, 3)).astype("float32"))
            y = tf.constant(rng.integers(0, 2, (b, 12)).astype("float32"))
            return trainable, (x, y)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=s.jit)
        return model, model_batch(model, b)

    def measure_model(self, key, train=True, infer=True):
        """Row of figures for one model (cached). Models a ratio needs stay compiled in
        ``self.live`` so the ratio re-times both sides interleaved, without a new trace."""
        if key in self.rows:
            return self.rows[key]
        import keras

        tf = tf_module()
        s = self.s
        peak = self.ensure_peak()
        load_before = load_average()
        t0 = time.perf_counter()
        model = self.build(key)
        phases = {"build_s": time.perf_counter() - t0}
        row = {"model": key, "params_m": model.count_params() / 1e6, "batch": s.batch,
               "n_aus": getattr(model, "n_aus", None),
               "image_size": s.image_size,
               "backbone": "resnet50 (keras.applications)" if key == REFERENCE else model.backbone_name}
        live = {}

        def phase(name, fn):
            tp = time.perf_counter()
            out = fn()
            phases[name] = time.perf_counter() - tp
            return out

        if infer:
            serving = self._serving(key, model)
            spec = tf.TensorSpec((s.batch, s.image_size, s.image_size, 3), tf.float32)
            fn = tf.function(lambda x: serving(x, training=False), jit_compile=s.jit)
            concrete = phase("infer_trace_s", lambda: fn.get_concrete_function(spec))
            flops = phase("infer_flops_graph_s", lambda: graph_flops(concrete.graph)[0])
            image = model_batch(model, s.batch)[0]["image"]
            t = phase("infer_time_s", lambda: time_calls(lambda: fn(image), s.infer_iters, s.warmup))
            ips = s.batch / t["best_s"]
            row.update(
                infer_gflops_per_image=flops / s.batch / 1e9,
                infer_images_per_s=ips,
                infer_median_images_per_s=s.batch / t["median_s"],
                infer_gflops_per_s=flops / s.batch * ips / 1e9,
                infer_fraction_of_peak=flops / s.batch * ips / 1e9 / peak,
                infer_traces=fn.experimental_get_tracing_count(),
            )
            live["infer"] = lambda: fn(image)
        if train:
            trainable, data = self._train_setup(key, model)
            trainable.optimizer.build(trainable.trainable_variables)
            step = tf.function(trainable.train_step, jit_compile=s.jit)
            concrete = phase("train_trace_s", lambda: step.get_concrete_function(data))
            flops, nested = phase("train_flops_s", lambda: graph_flops(concrete.graph))
            row["train_graph_ops"] = len(concrete.graph.get_operations())
            # The first call pays grappler's graph optimisation: timed apart.
            phase("train_first_call_s", lambda: sync(step(data)))
            t = phase("train_time_s", lambda: time_calls(lambda: step(data), s.train_iters,
                                                          max(0, s.warmup - 1)))
            ips = s.batch / t["best_s"]
            row.update(
                train_gflops_per_image=flops / s.batch / 1e9,
                train_step_s=t["best_s"],
                train_median_step_s=t["median_s"],
                train_images_per_s=ips,
                train_gflops_per_s=flops / s.batch * ips / 1e9,
                train_fraction_of_peak=flops / s.batch * ips / 1e9 / peak,
                train_traces=step.experimental_get_tracing_count(),
                train_nested_calls=nested,
            )
            live["train"] = lambda: step(data)
        row["phases_s"] = {k: round(v, 2) for k, v in phases.items()}
        row["load_average"] = [load_before, load_average()]
        row["wall_s"] = time.perf_counter() - t0
        print(f"  measured {key}: {time.perf_counter() - t0:.0f} s, load {load_average()}",
              flush=True)
        if key in self.keep:
            self.live[key] = (model, live)
        del model, live
        gc.collect()
        self.rows[key] = row
        return row

    def release(self, *keys):
        import keras

        for key in keys:
            self.live.pop(key, None)
        if not self.live:
            keras.backend.clear_session()
        gc.collect()

    def interleaved(self, key_a, key_b, what):
        """Best-of times of ``what`` ("train"/"infer") for two models, calls alternated so that
        load changes hit both alike. Falls back to the rows' figures when not live."""
        for key in (key_a, key_b):
            self.measure_model(key, train=what == "train")
        if key_a in self.live and key_b in self.live:
            fa, fb = self.live[key_a][1][what], self.live[key_b][1][what]
            iters = self.s.train_iters if what == "train" else self.s.infer_iters
            ta, tb = time_interleaved([fa, fb], iters + 1, 0)
            return ta["best_s"], tb["best_s"], "interleaved"
        field = "train_step_s" if what == "train" else "infer_images_per_s"
        a, b = self.measure_model(key_a), self.measure_model(key_b)
        if what == "train":
            return a[field], b[field], "separate"
        return self.s.batch / a[field], self.s.batch / b[field], "separate"

    def finalize_rows(self):
        """Fractions of the (final) peak and efficiency relative to the reference row."""
        ref = self.rows.get(REFERENCE, {})
        for r in self.rows.values():
            for what in ("infer", "train"):
                rate = r.get(f"{what}_gflops_per_s")
                if rate is None:
                    continue
                r[f"{what}_fraction_of_peak"] = rate / self.peak
                if ref.get(f"{what}_gflops_per_s"):
                    r[f"{what}_vs_reference"] = rate / ref[f"{what}_gflops_per_s"]

    def run_models(self):
        keys = ([REFERENCE] if self.s.reference else []) + list(self.s.models)
        rows = [self.measure_model(k) for k in keys]
        self.remeasure_peak()
        self.finalize_rows()
        print_table(
            f"models at {self.s.image_size}px, batch {self.s.batch}: FLOP/s as % of the matmul "
            f"peak ({fmt(self.peak)} GFLOP/s) and of {REFERENCE}'s",
            ["model", "backbone", "params M", "GF/img inf", "inf img/s", "inf %peak", "inf %ref",
             "GF/img train", "train img/s", "train %peak", "train %ref"],
            [[r["model"], r["backbone"], r["params_m"], r.get("infer_gflops_per_image"),
              r.get("infer_images_per_s"), 100 * r.get("infer_fraction_of_peak", 0),
              100 * r["infer_vs_reference"] if "infer_vs_reference" in r else None,
              r.get("train_gflops_per_image"), r.get("train_images_per_s"),
              100 * r.get("train_fraction_of_peak", 0),
              100 * r["train_vs_reference"] if "train_vs_reference" in r else None]
             for r in rows],
        )
        checks = [
            dict(check_target("inference_fraction_of_peak", r["infer_fraction_of_peak"]),
                 model=r["model"]) for r in rows if "infer_fraction_of_peak" in r
        ]
        return {"rows": rows, "targets": checks, "peak_gflops": self.peak}

    # -------------------------------------------------------------------------------- precision

    def run_precision(self):
        if not has_gpu():
            print("\n== float32 vs mixed precision: awaits GPU (no GPU visible)")
            return {"status": "awaits GPU"}
        import keras

        rows = []
        out = []
        for policy in ("mixed_float16", "mixed_bfloat16"):
            for key in self.s.models:
                base = self.measure_model(key)
                keras.mixed_precision.set_global_policy(policy)
                try:
                    saved = self.rows.pop(key)
                    r = self.measure_model(key)
                    self.rows[f"{key}@{policy}"] = self.rows.pop(key)
                    self.rows[key] = saved
                finally:
                    keras.mixed_precision.set_global_policy("float32")
                e = {"model": key, "policy": policy,
                     "train_speedup": r["train_images_per_s"] / base["train_images_per_s"],
                     "infer_speedup": r["infer_images_per_s"] / base["infer_images_per_s"],
                     "row": r}
                out.append(e)
                rows.append([key, policy, base["train_images_per_s"], r["train_images_per_s"],
                             e["train_speedup"], e["infer_speedup"]])
        print_table("float32 vs mixed precision", ["model", "policy", "f32 train img/s",
                                                   "mixed train img/s", "train x", "infer x"], rows)
        return {"rows": out}

    # -------------------------------------------------------------------------------- profile

    def profile(self, key, logdir, steps=3):
        """tf.profiler traces of ``steps`` training steps and inference calls of ``key``;
        op time by type and by layer (sums over threads, so they exceed the wall time)."""
        import keras

        tf = tf_module()
        s = self.s
        model = self.build(key)
        serving = self._serving(key, model)
        image = model_batch(model, s.batch)[0]["image"]
        infer = tf.function(lambda x: serving(x, training=False), jit_compile=s.jit)
        trainable, data = self._train_setup(key, model)
        trainable.optimizer.build(trainable.trainable_variables)
        step = tf.function(trainable.train_step, jit_compile=s.jit)
        out = {"model": key, "logdir": logdir, "batch": s.batch, "image_size": s.image_size}
        for what, fn in (("train", lambda: step(data)), ("infer", lambda: infer(image))):
            t = time_calls(fn, steps, s.warmup)
            path = os.path.join(logdir, what)
            tf.profiler.experimental.start(path)
            for _ in range(steps):
                sync(fn())
            tf.profiler.experimental.stop()
            by_type, by_layer = summarize_trace(path)
            total = sum(by_type.values()) or 1.0
            print_table(f"profile {key} {what}: best {t['best_s'] * 1e3:.0f} ms/call wall; op time "
                        f"by type, summed over threads (trace {path})", ["op type", "ms/call", "%"],
                        [[k, v / steps / 1e9, 100 * v / total] for k, v in by_type.most_common(12)])
            print_table(f"profile {key} {what}: op time by layer", ["layer", "ms/call", "%"],
                        [[k, v / steps / 1e9, 100 * v / total] for k, v in by_layer.most_common(15)])
            out[what] = {"best_s": t["best_s"],
                         "by_type_ms": {k: v / steps / 1e9 for k, v in by_type.most_common(30)},
                         "by_layer_ms": {k: v / steps / 1e9 for k, v in by_layer.most_common(40)}}
        out["traces"] = {"train": step.experimental_get_tracing_count(),
                         "infer": infer.experimental_get_tracing_count()}
        del model, trainable, serving
        keras.backend.clear_session()
        return out
