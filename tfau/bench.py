"""``python -m tfau.bench``: throughput, FLOPs, memory and pipeline benchmarks of tfau in one run.

Usage::

    python -m tfau.bench [--quick] [--only SECTION ...] [--json out.json] [--jit]
                         [--models NAME ...] [--image-size S] [--batch B]
                         [--profile MODEL [--profile-dir DIR]]

Sections (all by default, in this order):

``peak``
    float32 ``tf.linalg.matmul`` of large square matrices, best of a few runs, all cores: the
    machine's reference GFLOP/s. With a GPU also bf16 / fp16 on the GPU.
``models``
    per model (paper backbone, width 1, ``--image-size``): parameters, FLOPs per image of the
    inference graph and of the training step (TF's registered per-op statistics, as the TF
    profiler, summed over the traced serving / ``train_step`` graph: forward, backward and
    optimizer; BatchMatMul counted by our formula, TF's misreads ``adj_x``), inference
    images/s (``serving_model()`` in a ``tf.function``) and training images/s (``model.compile`` then the model's own ``train_step`` in a ``tf.function`` on a
    synthetic batch with every required feature and target), and the achieved FLOP/s as a
    fraction of the matmul peak. ``keras_resnet50`` (``keras.applications.ResNet50``, no top,
    + a GAP/Dense head for training) is the reference row.
``ratios``
    SCC-Heatmap / ResNet-Deconv training step; decomposed / naive SCC layer at the head's
    real sizes (forward, and forward + backward); ROI-GCN / its HRNet-only head
    (``use_gcn=False``: HRNet + 1x1 conv to the same maps) training step; RE-Net all-AU
    one-pass (folded batch) / per-AU loop inference.
``memory``
    peak memory of SpectralGraphConv vs an explicit-A version (forms ``[HW, HW]`` A, D and the
    Laplacian) and of the decomposed vs naive SCC, over several map sizes; each variant runs in
    a fresh subprocess: peak RSS during one forward + backward minus the RSS after the inputs,
    weights and traced function exist (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``;
    ``ru_maxrss`` otherwise), plus an analytic count (bytes of every tensor of the traced graph);
    a plain 1x1 conv with the same input / output (``dense``) gives the memory any layer over
    the map needs, so ``(sgc - dense) / (explicit_a - dense)`` is the graph operator's own share.
``pipeline``
    ``tfau.data`` input pipeline images/s (decode + augment + targets) per synthetic_au config
    and per method's targets, against the training step's consumption rate.
``precision``
    float32 vs mixed precision training/inference (GPU only; "awaits GPU" on CPU).

``--quick`` uses the papers' 256 px at batch 1 and few iterations (full: batch 8); ``--tiny``
(tests) uses the models' TINY_CONFIG sizes. ``--profile MODEL`` traces MODEL's training step and
inference with ``tf.profiler`` and prints op time by type and by layer. Throughput is the best
(minimum-time) of the timed iterations after warm-up, as ``timeit``; medians are in the JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import glob
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

SECTIONS = ("peak", "models", "ratios", "memory", "pipeline", "precision")
MODEL_NAMES = ("resnet_deconv", "scc_heatmap", "g2rl", "roi_gcn", "resnet18", "re_net")
REFERENCE = "keras_resnet50"
# Protocol each model is benchmarked with (heatmap models: intensity, 10 BP4D points).
MODEL_PROTOCOLS = {
    "resnet_deconv": "bp4d_intensity",
    "scc_heatmap": "bp4d_intensity",
    "g2rl": "bp4d_intensity",
    "roi_gcn": "bp4d_occurrence",
    "resnet18": "bp4d_occurrence",
    "re_net": "bp4d_occurrence",
}
# Variants only the ratios need.
VARIANTS = {"roi_gcn_no_gcn": ("roi_gcn", {"use_gcn": False})}
# tfau.data.bench_pipeline case whose augmentation and targets each method trains with.
METHOD_CASES = {
    "resnet_deconv": "none+heatmaps",
    "scc_heatmap": "none+heatmaps",
    "g2rl": "none+heatmaps",
    "roi_gcn": "rotate_flip+roi",
    "resnet18": "crop_flip",
    "re_net": "crop_flip",
}
PIPELINE_CONFIGS = ("disfa_intensity", "bp4d_intensity", "bp4d_occurrence", "disfa_occurrence")
HEAD_FILTERS = (256, 128, 64)  # deconv head channels at S/16, S/8, S/4 (tfau.backbones)
HRNET_X0_CHANNELS = 270  # HRNetV2-W18 concatenated S/4 features (18 + 36 + 72 + 144)

TARGETS = {
    "inference_fraction_of_peak": (">=", 0.7),
    "scc_heatmap_vs_resnet_deconv_step": ("<=", 1.15),
    "scc_decomposed_vs_naive": ("<=", 0.3),
    "sgc_vs_explicit_a_memory_64": ("<=", 0.02),
    "pipeline_vs_training": (">=", 3.0),
    "pipeline_images_per_s": (">=", 800.0),
}


# ------------------------------------------------------------------------------------ settings


@dataclasses.dataclass
class Settings:
    mode: str = "full"
    image_size: int = 256
    batch: int = 8
    width: float = 1.0
    backbone: str | None = None  # None: each model's paper backbone
    warmup: int = 2
    infer_iters: int = 10
    train_iters: int = 5
    matmul_sizes: tuple = (1024, 2048, 4096)
    matmul_runs: int = 5
    memory_sizes: tuple = (16, 32, 64)
    memory_batch: int = 2
    pipeline_batch: int = 64
    pipeline_batches: int = 30
    pipeline_warmup: int = 5
    pipeline_size: int = 256
    data_dir: str | None = None
    jit: bool = False
    # ROI-GCN / HRNet-head training-step ratio: the HRNet training graph (64 k ops) costs ~95 s
    # of tracing + grappler per model, so --quick times only the inference ratio.
    roi_train_ratio: bool = True
    models: tuple = MODEL_NAMES
    reference: bool = True
    protocols: dict = dataclasses.field(default_factory=dict)  # overrides of MODEL_PROTOCOLS

    def protocol(self, name):
        return self.protocols.get(name, MODEL_PROTOCOLS[name])

    @classmethod
    def preset(cls, mode):
        if mode == "full":
            return cls()
        if mode == "quick":
            return cls(
                mode="quick", image_size=256, batch=1, warmup=1, infer_iters=4, train_iters=3,
                matmul_sizes=(1024, 2048), matmul_runs=3, memory_sizes=(16, 32, 64), memory_batch=1,
                pipeline_batch=32, pipeline_batches=30, pipeline_warmup=3, roi_train_ratio=False,
            )
        if mode == "tiny":
            return cls(
                mode="tiny", image_size=64, batch=2, width=0.125, backbone="resnet18", warmup=1,
                infer_iters=1, train_iters=1, matmul_sizes=(256,), matmul_runs=1, memory_sizes=(4, 8),
                memory_batch=1, pipeline_batch=4, pipeline_batches=2, pipeline_warmup=1,
                pipeline_size=64, reference=False,
                # 5 AUs instead of 12: RE-Net's per-AU loop traces one backbone per AU.
                protocols={"re_net": "bp4d_intensity", "resnet18": "bp4d_intensity"},
            )
        raise ValueError(f"unknown mode {mode!r}")


# ------------------------------------------------------------------------------------ utilities


def _tf():
    import tensorflow as tf

    return tf


def has_gpu():
    return bool(_tf().config.list_physical_devices("GPU"))


def load_average():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info():
    import keras

    tf = _tf()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for g in gpus:
        try:
            gpu_names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # noqa: BLE001
            gpu_names.append(g.name)
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gpus": gpu_names,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "load_average": load_average(),
    }


def _first_leaf(out):
    tf = _tf()
    leaves = tf.nest.flatten(out)
    return leaves[0] if leaves else None


def _sync(out):
    leaf = _first_leaf(out)
    if leaf is not None and hasattr(leaf, "numpy"):
        leaf.numpy()


def time_calls(fn, iters, warmup):
    """Calls ``fn()`` ``warmup`` then ``iters`` times (synchronising on its output)."""
    for _ in range(warmup):
        _sync(fn())
    times = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        _sync(fn())
        times.append(time.perf_counter() - t0)
    return {"best_s": min(times), "median_s": statistics.median(times), "iters": len(times)}


def time_interleaved(fns, iters, warmup):
    """Like ``time_calls`` for several functions, calls alternated (A B A B ...)."""
    for _ in range(warmup):
        for fn in fns:
            _sync(fn())
    times = [[] for _ in fns]
    for _ in range(max(1, iters)):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            _sync(fn())
            times[i].append(time.perf_counter() - t0)
    return [{"best_s": min(t), "median_s": statistics.median(t), "iters": len(t)} for t in times]


def graph_flops(graph):
    """Sum of the registered ``flops`` statistics over the ops of ``graph``.

    Same per-op formulas as the TF profiler (MatMul, BatchMatMul, Conv2D and its backprops,
    ...); elementwise ops without a registered statistic count 0. Op types rewritten by grappler
    or oneDNN (``_MklMatMul``, ``_FusedMatMul``, ``_MklNativeFusedConv2D``, ...; see
    :func:`canonical_op_type`) are counted by their plain op's formula, plus one FLOP per output
    element for each fused ``BiasAdd`` / ``Add``, as the unfused graph would count them.
    Returns ``(flops, nested_call_op_types)``.
    """
    total = 0
    nested = set()
    for op in graph.get_operations():
        if op.type in ("PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile",
                       "If", "StatelessIf"):
            nested.add(op.type)
        total += op_flops(graph, op)
    return total, sorted(nested)


_BATCH_MATMULS = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
# Ops whose oneDNN / grappler spelling is "<prefix>Fused<op>" with extra fused epilogue ops.
_FUSABLE = ("MatMul", "Conv2D", "Conv3D", "DepthwiseConv2dNative") + _BATCH_MATMULS
_FUSED_ELEMENTWISE = ("BiasAdd", "Add", "AddV2")


def canonical_op_type(op_type):
    """The plain TF op type of an op rewritten by oneDNN or grappler's remapper.

    ``_MklMatMul`` / ``_MklNativeMatMul`` -> ``MatMul``; ``_FusedMatMul``, ``_MklFusedMatMul``,
    ``_MklNativeFusedMatMul`` -> ``MatMul``; ``_FusedConv2D`` / ``_MklNativeFusedConv2D`` ->
    ``Conv2D``; ``_MklNativeConv2DBackpropInput`` -> ``Conv2DBackpropInput``;
    ``_MklFusedBatchMatMulV2`` -> ``BatchMatMulV2``. ``_MklFusedBatchNormV3`` stays
    ``FusedBatchNormV3`` (the plain op's own name starts with ``Fused``). Other names unchanged.
    """
    name = op_type
    for prefix in ("_MklNative", "_Mkl"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    else:
        if not (name.startswith("_Fused") and name[len("_Fused"):] in _FUSABLE):
            return op_type  # plain ops, and grappler's other fusions (_FusedBatchNormEx, ...)
        name = name[1:]
    if name.startswith("Fused") and name[len("Fused"):] in _FUSABLE:
        name = name[len("Fused"):]
    return name


def op_flops(graph, op):
    """FLOPs of one op of ``graph`` (0 where TF registers no statistic or a shape is unknown)."""
    from tensorflow.python.framework import ops as tf_ops

    op_type = canonical_op_type(op.type)
    if op_type in _BATCH_MATMULS:
        flops = _batch_matmul_flops(op)
    else:
        node_def = op.node_def
        if op_type != op.type:
            node_def = type(node_def)()
            node_def.CopyFrom(op.node_def)
            node_def.op = op_type
        try:
            stats = tf_ops.get_stats_for_node_def(graph, node_def, "flops")
        except Exception:  # noqa: BLE001  (unknown shape)
            return 0
        flops = int(stats.value or 0)
    if flops and op_type != op.type and "fused_ops" in op.node_def.attr:
        out_elements = op.outputs[0].shape.num_elements() or 0
        fused = [f.decode() for f in op.node_def.attr["fused_ops"].list.s]
        flops += out_elements * sum(f in _FUSED_ELEMENTWISE for f in fused)
    return flops


def _batch_matmul_flops(op):
    """2 * output elements * inner dimension of a BatchMatMul op.

    TF's registered statistic (``tensorflow/python/profiler/internal/flops_registry.py``, TF 2.21)
    reads the attribute ``transpose_a``, which BatchMatMul does not have (its flag is ``adj_x``),
    so for ``adj_x=True`` it takes the wrong inner dimension: the gradients of every batched
    product are miscounted (SCC's kernel gradient by a factor L / (B*C), 64x at 256 px).
    """
    a_shape = op.inputs[0].shape
    out_shape = op.outputs[0].shape
    if not (a_shape.is_fully_defined() and out_shape.is_fully_defined()):
        return 0
    k = int(a_shape[-2]) if op.get_attr("adj_x") else int(a_shape[-1])
    return 2 * k * int(out_shape.num_elements())


def graph_tensor_bytes(graph):
    """Analytic upper bound of activation memory: bytes of every op output of ``graph``
    (no buffer reuse; constants, variable handles and reads of variables excluded)."""
    skip = {"Const", "VarHandleOp", "ReadVariableOp", "Placeholder", "NoOp", "Identity",
            "Reshape", "Shape", "StridedSlice", "Pack"}
    total = 0
    for op in graph.get_operations():
        if op.type in skip:
            continue
        for t in op.outputs:
            shape = t.shape
            if shape.rank is None or not shape.is_fully_defined():
                continue
            try:
                size = t.dtype.size
            except Exception:  # noqa: BLE001  (resource / variant)
                continue
            n = 1
            for d in shape.as_list():
                n *= d
            total += n * size
    return total


def fmt(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def print_table(title, header, rows):
    print(f"\n== {title}")
    cells = [[fmt(c) for c in header]] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def check_target(name, value):
    op, bound = TARGETS[name]
    if value is None:
        return {"name": name, "value": None, "target": f"{op} {bound}", "met": None}
    met = value >= bound if op == ">=" else value <= bound
    return {"name": name, "value": value, "target": f"{op} {bound}", "met": bool(met)}


# ------------------------------------------------------------------------------------ synthetic


def synthetic_features(model, batch, image_size, seed=0):
    """Features dict with every key the model may read (image, landmarks, au_index)."""
    import numpy as np

    from tfau import geometry

    tf = _tf()
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (batch, image_size, image_size, 3)).astype("float32")
    template = np.asarray(geometry.TEMPLATE_68, np.float32) * (image_size / geometry.TEMPLATE_SIZE)
    landmarks = template[None] + rng.normal(0, 1.0, (batch, 68, 2)).astype("float32")
    features = {"image": tf.constant(image), "landmarks": tf.constant(landmarks.astype("float32"))}
    if "au_index" in getattr(model, "required_features", ()):
        # [B], not the contract's []: Keras' train_step reads the batch size from the first
        # leaf of x (sorted keys: au_index first) and fails on a scalar.
        features["au_index"] = tf.fill((batch,), tf.constant(3 % model.n_aus, tf.int32))
    return features


def synthetic_targets(model, batch, image_size, seed=1):
    import numpy as np

    tf = _tf()
    rng = np.random.default_rng(seed)
    a = model.n_aus
    h = image_size // 4
    if model.is_intensity:
        labels = rng.integers(0, 6, (batch, a)).astype("float32")
    else:
        labels = rng.integers(0, 2, (batch, a)).astype("float32")
    targets = {"labels": tf.constant(labels), "label_mask": tf.ones((batch, a), tf.float32)}
    for key in model.required_targets:
        if key == "heatmaps":
            targets[key] = tf.constant(rng.uniform(0, 1, (batch, h, h, model.n_points)).astype("float32"))
        elif key == "roi_maps":
            targets[key] = tf.constant(rng.uniform(-1, 1, (batch, h, h, a)).astype("float32"))
        elif key == "roi_mask":
            targets[key] = tf.ones((batch, h, h, a), tf.float32)
        elif key not in targets:
            raise ValueError(f"bench does not know how to synthesise target {key!r}")
    return targets


# ------------------------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, settings):
        self.s = settings
        self.peak = None  # float32 GFLOP/s
        self.rows = {}  # model key -> measured row
        self.live = {}  # model key -> (model, {"train": fn, "infer": fn}) kept for the ratios
        self.keep = set()  # models the ratios re-time: kept compiled after their row
        self.results = {}

    # -------------------------------------------------------------------------------- peak

    def matmul_peak(self, device="/CPU:0", dtypes=("float32",), sizes=None):
        """Best GFLOP/s of ``tf.linalg.matmul`` over square sizes and runs (sizes interleaved:
        Eigen's rate on CPU depends on n, e.g. 130 / 108 / 77 GFLOP/s at 1024 / 2048 / 4096
        here)."""
        tf = _tf()
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
        name, extra = VARIANTS.get(key, (key, {}))
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

        tf = _tf()
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
        return model, (synthetic_features(model, b, size), synthetic_targets(model, b, size))

    def measure_model(self, key, train=True, infer=True):
        """Row of figures for one model (cached). Models a ratio needs stay compiled in
        ``self.live`` so the ratio re-times both sides interleaved, without a new trace."""
        if key in self.rows:
            return self.rows[key]
        import keras

        tf = _tf()
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
            image = synthetic_features(model, s.batch, s.image_size)["image"]
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
            phase("train_first_call_s", lambda: _sync(step(data)))
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

    # -------------------------------------------------------------------------------- ratios

    def scc_layer_times(self):
        """Decomposed vs naive SCCLayer at the head's sizes (ResNet-50 head at image_size)."""
        import numpy as np

        from tfau.backbones import scaled_channels
        from tfau.layers import SCCLayer
        from tfau.models.scc_heatmap import default_k
        from tfau.aus import get_protocol

        tf = _tf()
        s = self.s
        k = default_k(get_protocol(s.protocol("scc_heatmap")))
        stages = []
        for i, f in enumerate(HEAD_FILTERS):
            h = s.image_size // 2 ** (4 - i)
            c = scaled_channels(f, s.width)
            stages.append((h, c))
        out = []
        rng = np.random.default_rng(0)
        for h, c in stages:
            x = tf.constant(np.maximum(rng.normal(0, 1, (s.batch, h, h, c)), 0).astype("float32"))
            entry = {"h": h, "w": h, "c": c, "k": k, "batch": s.batch}
            fns = {}
            for naive in (False, True):
                layer = SCCLayer(k=k, naive=naive)
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
            tf_, tn = time_interleaved([fns["decomposed"][0], fns["naive"][0]], s.infer_iters, s.warmup)
            entry["decomposed_fwd_s"], entry["naive_fwd_s"] = tf_["best_s"], tn["best_s"]
            tf_, tn = time_interleaved([fns["decomposed"][1], fns["naive"][1]], s.train_iters, s.warmup)
            entry["decomposed_train_s"], entry["naive_train_s"] = tf_["best_s"], tn["best_s"]
            del fns
            gc.collect()
            out.append(entry)
        return out

    def re_net_times(self):
        import keras

        tf = _tf()
        s = self.s
        model = self.build("re_net")
        serving = model.serving_model()
        a = model.n_aus
        b = s.batch

        def one_pass(image):
            return serving(image, training=False)["au"]

        def per_au_loop(image):
            # The per-AU alternative: A passes of batch B, AU a read from pass a.
            cols = []
            for i in range(a):
                index = tf.fill((tf.shape(image)[0],), i)
                logits = model._logits(image, index, training=False)  # [B, A, n]
                cols.append(logits[:, i])
            return model._decode(tf.stack(cols, axis=1))

        image = synthetic_features(model, b, s.image_size)["image"]
        f1, f2 = tf.function(one_pass), tf.function(per_au_loop)
        same = float(tf.reduce_max(tf.abs(f1(image) - f2(image))))
        t1, t2 = time_interleaved([lambda: f1(image), lambda: f2(image)], s.infer_iters + 1,
                                  s.warmup)
        del model, serving
        keras.backend.clear_session()
        gc.collect()
        return {"n_aus": a, "batch": b, "one_pass_s": t1["best_s"], "per_au_loop_s": t2["best_s"],
                "ratio": t1["best_s"] / t2["best_s"], "max_abs_diff": same}

    def run_ratios(self):
        out = {"targets": []}
        rows = []
        names = set(self.s.models)
        if {"scc_heatmap", "resnet_deconv"} <= names:
            ts, tb, how = self.interleaved("scc_heatmap", "resnet_deconv", "train")
            its, itb, _ = self.interleaved("scc_heatmap", "resnet_deconv", "infer")
            self.release("scc_heatmap", "resnet_deconv")
            r, ri = ts / tb, its / itb
            out["scc_heatmap_vs_resnet_deconv"] = {"train_step": r, "inference": ri, "timing": how,
                                                   "train_s": [ts, tb], "infer_s": [its, itb]}
            rows.append(["SCC-Heatmap / ResNet-Deconv train step", r, "<= 1.15"])
            rows.append(["SCC-Heatmap / ResNet-Deconv inference", ri, ""])
            out["targets"].append(check_target("scc_heatmap_vs_resnet_deconv_step", r))
        scc_layers = self.scc_layer_times()
        fwd = sum(e["decomposed_fwd_s"] for e in scc_layers) / sum(e["naive_fwd_s"] for e in scc_layers)
        trn = sum(e["decomposed_train_s"] for e in scc_layers) / sum(e["naive_train_s"] for e in scc_layers)
        out["scc_layer"] = {"stages": scc_layers, "forward": fwd, "train": trn}
        for e in scc_layers:
            rows.append([f"  SCC {e['h']}x{e['w']}x{e['c']} decomposed/naive fwd | fwd+bwd",
                         e["decomposed_fwd_s"] / e["naive_fwd_s"],
                         fmt(e["decomposed_train_s"] / e["naive_train_s"])])
        rows.append(["SCC layers decomposed / naive, forward", fwd, "<= 0.3"])
        rows.append(["SCC layers decomposed / naive, fwd+bwd", trn, "<= 0.3"])
        out["targets"].append(dict(check_target("scc_decomposed_vs_naive", fwd), what="forward"))
        out["targets"].append(dict(check_target("scc_decomposed_vs_naive", trn), what="fwd+bwd"))
        if "roi_gcn" in names:
            r = tg = th = None
            if self.s.roi_train_ratio:
                tg, th, how = self.interleaved("roi_gcn", "roi_gcn_no_gcn", "train")
                r = tg / th
            itg, ith, how = self.interleaved("roi_gcn", "roi_gcn_no_gcn", "infer")
            self.release("roi_gcn", "roi_gcn_no_gcn")
            ri = itg / ith
            out["roi_gcn_vs_hrnet_head"] = {"train_step": r, "inference": ri, "timing": how,
                                            "train_s": [tg, th], "infer_s": [itg, ith]}
            rows.append(["ROI-GCN / HRNet+1x1 head train step", r,
                         "" if r is not None else "full mode only"])
            rows.append(["ROI-GCN / HRNet+1x1 head inference", ri, ""])
        if "re_net" in names:
            rn = self.re_net_times()
            out["re_net_one_pass_vs_loop"] = rn
            rows.append([f"RE-Net one-pass / per-AU loop inference ({rn['n_aus']} AUs)",
                         rn["ratio"], f"max|diff| {rn['max_abs_diff']:.1e}"])
        self.release(*list(self.live))
        out["load_average"] = load_average()
        print_table("ratios (pairs timed interleaved, best of each)",
                    ["ratio", "value", "target / note"], rows)
        return out

    # -------------------------------------------------------------------------------- memory

    def run_memory(self):
        s = self.s
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

    # -------------------------------------------------------------------------------- pipeline

    def run_pipeline(self):
        """tfau.data throughput per synthetic_au config and per method's pipeline case
        (``tfau.data.bench_pipeline.run``: JPEG decode, resize, augmentation, targets)."""
        s = self.s
        try:
            from tfau.data import bench_pipeline
        except Exception as exc:  # noqa: BLE001
            print(f"\n== input pipeline: tfau.data.bench_pipeline not importable ({exc}); skipped")
            return {"skipped": repr(exc)}
        methods = [m for m in s.models if m in METHOD_CASES]
        if s.mode == "full":
            configs = {c: None for c in PIPELINE_CONFIGS}  # every case on every config
        else:
            configs = {}
            for m in methods:
                configs.setdefault(s.protocol(m), set()).add(METHOD_CASES[m])
        rates = {}
        runs = []
        for config, cases in configs.items():
            t0 = time.perf_counter()
            try:
                res = bench_pipeline.run(
                    data_dir=s.data_dir, config=config, image_size=s.pipeline_size,
                    batch_size=s.pipeline_batch, batches=s.pipeline_batches,
                    warmup=s.pipeline_warmup, cases=None if cases is None else sorted(cases),
                )
            except Exception as exc:  # noqa: BLE001
                runs.append({"config": config, "error": repr(exc)})
                print(f"  pipeline {config}: error {exc!r}")
                continue
            for case, ips in res.items():
                rates[(config, case)] = float(ips)
                runs.append({"config": config, "case": case, "images_per_s": float(ips)})
            runs[-1]["wall_s"] = time.perf_counter() - t0
        rows, per_method, checks = [], [], []
        for m in methods:
            config, case = s.protocol(m), METHOD_CASES[m]
            ips = rates.get((config, case))
            consume = self.rows.get(m, {}).get("train_images_per_s")
            ratio = ips / consume if ips and consume else None
            per_method.append({"method": m, "config": config, "case": case, "images_per_s": ips,
                               "train_images_per_s": consume, "ratio": ratio})
            rows.append([m, config, case, ips, consume, ratio])
            if ips is not None:
                checks.append(dict(check_target("pipeline_images_per_s", ips), method=m))
            if ratio is not None:
                checks.append(dict(check_target("pipeline_vs_training", ratio), method=m))
        print_table(
            f"input pipeline, {s.pipeline_size}px source, batch {s.pipeline_batch} vs training "
            f"step at {s.image_size}px",
            ["method", "synthetic_au config", "case", "pipeline img/s", "train img/s", "ratio"],
            rows,
        )
        return {"runs": runs, "per_method": per_method, "targets": checks,
                "load_average": load_average()}

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

        tf = _tf()
        s = self.s
        model = self.build(key)
        serving = self._serving(key, model)
        image = synthetic_features(model, s.batch, s.image_size)["image"]
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
                _sync(fn())
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


def summarize_trace(logdir, depth=4):
    """Sums TF op durations (picoseconds) of the newest ``*.xplane.pb`` under ``logdir``.

    Op types are keyed by :func:`canonical_op_type` (oneDNN's ``_MklMatMul`` and grappler's
    ``_FusedConv2D`` count as ``MatMul`` / ``Conv2D``), so tables read the same on every CPU.

    Layers are the first ``depth`` components of the op-name scope (Keras' ``_1`` call suffixes
    stripped; gradients as ``grad <layer>``, every optimizer op as ``optimizer``), so nested
    models show where the time goes.
    """
    import collections

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    by_type = collections.Counter()
    by_layer = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU") and not plane.name.startswith("/device:"):
            continue
        meta = plane.event_metadata
        for line in plane.lines:
            if line.name == "python":
                continue
            for ev in line.events:
                name = meta[ev.metadata_id].name
                if ":" not in name or "::" in name:  # executor / threadpool events
                    continue
                op_name, op_type = name.rsplit(":", 1)
                by_type[canonical_op_type(op_type)] += ev.duration_ps
                parts = [p for p in op_name.split("/") if p]
                grad = bool(parts) and parts[0] == "gradient_tape"
                if grad:
                    parts = parts[1:]
                if parts and parts[0] in ("adam", "Adam", "sgd", "SGD"):
                    layer = "optimizer"
                else:
                    layer = "/".join(_strip(parts)[:depth])
                    if grad:
                        layer = "grad " + layer
                by_layer[layer] += ev.duration_ps
    return by_type, by_layer


def _strip(parts):
    """Scope components without the op's own name and without Keras' ``_1`` call suffixes."""
    return [re.sub(r"_\d+$", "", p) for p in parts[:-1]] or list(parts)


# ------------------------------------------------------------------------------------ memory child


def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def explicit_a_sgc(layer, inputs):
    """SpectralGraphConv with A, D and the Laplacian formed explicitly ([B, HW, HW]).

    Same weights and the same maths as ``SpectralGraphConv.call`` (including its scale
    normalisation of Phi); the benchmark's reference for memory and a test oracle.
    """
    tf = _tf()
    b = tf.shape(inputs)[0]
    c = inputs.shape[-1]
    x = tf.reshape(inputs, (b, -1, c))
    phi_logits = tf.matmul(x, layer.phi_kernel) + layer.phi_bias
    phi = tf.nn.softplus(phi_logits) if layer.phi_activation == "softplus" else tf.nn.relu(phi_logits)
    lam = tf.sigmoid(tf.matmul(tf.reduce_mean(x, axis=1), layer.lambda_kernel) + layer.lambda_bias)
    scale = tf.stop_gradient(tf.reduce_max(phi, axis=(1, 2), keepdims=True))
    phi_n = phi / tf.maximum(scale, 1e-30)
    a = tf.matmul(phi_n * lam[:, None, :], phi_n, transpose_b=True)  # A [B, n, n]
    d = tf.reduce_sum(a, axis=-1)  # degrees
    dinv = tf.math.rsqrt(d + layer.epsilon)
    n = tf.shape(a)[1]
    lap = tf.eye(n, batch_shape=[b]) - dinv[:, :, None] * a * dinv[:, None, :]
    out = layer.activation(tf.matmul(tf.matmul(lap, x), layer.theta))
    if layer.theta_bias is not None:
        out = out + layer.theta_bias
    return tf.reshape(out, tf.concat([tf.shape(inputs)[:-1], [layer._units]], 0))


def _memory_child(job):
    import numpy as np

    tf = _tf()
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
    _sync(step(x))  # warm-up: one-off allocations (thread pools, kernels) before the baseline
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
    _sync(step(x))
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
    proc = subprocess.run(
        [sys.executable, "-m", "tfau.bench", "--memory-child", json.dumps(job)],
        capture_output=True, text=True, env=env,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (proc.stderr or proc.stdout)[-2000:], "delta_mb": None, "analytic_mb": None}


# ------------------------------------------------------------------------------------ main


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tfau.bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="256 px at batch 1, few iterations")
    p.add_argument("--tiny", action="store_true", help="TINY_CONFIG sizes (tests)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                   help=f"sections to run (default all): {', '.join(SECTIONS)}")
    p.add_argument("--models", nargs="+", choices=MODEL_NAMES, metavar="NAME")
    p.add_argument("--no-reference", action="store_true", help="skip the keras ResNet-50 row")
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--memory-sizes", type=int, nargs="+", metavar="H")
    p.add_argument("--data-dir", help="TFDS data dir of synthetic_au (built there if missing)")
    p.add_argument("--jit", action="store_true", help="jit_compile=True (XLA) for every step")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--profile", metavar="MODEL", choices=MODEL_NAMES + (REFERENCE,),
                   help="also trace MODEL's training step with tf.profiler and print op times")
    p.add_argument("--profile-dir", default="/tmp/tfau_bench_profile")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def settings_from_args(args):
    s = Settings.preset("tiny" if args.tiny else "quick" if args.quick else "full")
    if args.image_size:
        s.image_size = args.image_size
    if args.batch:
        s.batch = args.batch
    if args.models:
        s.models = tuple(args.models)
    if args.memory_sizes:
        s.memory_sizes = tuple(args.memory_sizes)
    if args.no_reference:
        s.reference = False
    s.jit = bool(args.jit)
    if args.data_dir:
        s.data_dir = args.data_dir
    return s


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # effective only before TF's import
    _tf().get_logger().setLevel("ERROR")  # per-layer tf.functions in the ratios retrace by design
    if args.memory_child:
        print(json.dumps(_memory_child(json.loads(args.memory_child))))
        return None
    from tfau.data.pipeline import tune_malloc

    tune_malloc()  # as the trainer: keeps freed buffers mapped (page faults, system time)
    s = settings_from_args(args)
    sections = args.only or ([] if args.profile else list(SECTIONS))
    info = machine_info()
    print(f"tfau.bench ({s.mode}) {info['date']}  {info['cpu']}, {info['cores']} cores"
          f"{', GPU ' + ', '.join(info['gpus']) if info['gpus'] else ', no GPU'}  "
          f"TF {info['tensorflow']}  Keras {info['keras']}  load {info['load_average']}")
    bench = Bench(s)
    if "ratios" in sections:
        bench.keep = {"scc_heatmap", "resnet_deconv", "roi_gcn", "roi_gcn_no_gcn"}
    results = {"meta": {**info, "settings": dataclasses.asdict(s), "sections": sections,
                        "argv": list(sys.argv[1:] if argv is None else argv)}}
    runners = {"peak": bench.run_peak, "models": bench.run_models, "ratios": bench.run_ratios,
               "memory": bench.run_memory, "pipeline": bench.run_pipeline,
               "precision": bench.run_precision}
    t0 = time.perf_counter()
    for name in sections:
        if name == "peak" and "peak" in bench.results:
            results["peak"] = bench.results["peak"]
            continue
        ts = time.perf_counter()
        results[name] = runners[name]()
        took = results["meta"].setdefault("section_s", {})[name] = time.perf_counter() - ts
        print(f"  [{name}: {took:.0f} s]")
    if "peak" in bench.results:
        results.setdefault("peak", bench.results["peak"])
    if args.profile:
        results["profile"] = bench.profile(args.profile, args.profile_dir)
    results["models_measured"] = bench.rows
    checks = [c for sec in results.values() if isinstance(sec, dict)
              for c in sec.get("targets", [])]
    results["targets"] = checks
    results["meta"]["wall_s"] = time.perf_counter() - t0
    results["meta"]["load_average_end"] = load_average()
    if checks:
        print_table("targets", ["target", "for", "value", "bound", "met"],
                    [[c["name"], c.get("model") or c.get("method") or c.get("what") or "",
                      c["value"], c["target"], {True: "yes", False: "NO", None: "-"}[c["met"]]]
                     for c in checks])
    print(f"\ntotal {results['meta']['wall_s']:.0f} s, load {results['meta']['load_average_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
