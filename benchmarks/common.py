"""What every benchmark section shares: timing (best of the timed calls after warm-up, as
``timeit``), machine facts, table printing and the targets the figures are checked against."""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time

# Bounds the figures are checked against (the "targets" table and JSON). ``step_vs_baseline``
# applies to a model and the registered model it extends (an added module should cost at most
# 15% of the training step); ``layer_vs_naive`` to a layer's decomposed vs explicit form.
TARGETS = {
    "inference_fraction_of_peak": (">=", 0.7),
    "step_vs_baseline": ("<=", 1.15),
    "layer_vs_naive": ("<=", 0.3),
    "sgc_vs_explicit_a_memory_64": ("<=", 0.02),
    "pipeline_vs_training": (">=", 3.0),
    "pipeline_images_per_s": (">=", 800.0),
}


def tf_module():
    import tensorflow as tf

    return tf


def has_gpu():
    return bool(tf_module().config.list_physical_devices("GPU"))


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

    tf = tf_module()
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
    tf = tf_module()
    leaves = tf.nest.flatten(out)
    return leaves[0] if leaves else None


def sync(out):
    leaf = _first_leaf(out)
    if leaf is not None and hasattr(leaf, "numpy"):
        leaf.numpy()


def time_calls(fn, iters, warmup):
    """Calls ``fn()`` ``warmup`` then ``iters`` times (synchronising on its output)."""
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - t0)
    return {"best_s": min(times), "median_s": statistics.median(times), "iters": len(times)}


def time_interleaved(fns, iters, warmup):
    """Like ``time_calls`` for several functions, calls alternated (A B A B ...)."""
    for _ in range(warmup):
        for fn in fns:
            sync(fn())
    times = [[] for _ in fns]
    for _ in range(max(1, iters)):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            sync(fn())
            times[i].append(time.perf_counter() - t0)
    return [{"best_s": min(t), "median_s": statistics.median(t), "iters": len(t)} for t in times]


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
