"""``python -m benchmarks``: throughput, FLOPs, memory and pipeline benchmarks of tfau in one run.

Usage::

    python -m benchmarks [--quick] [--only SECTION ...] [--json out.json] [--jit]
                         [--models NAME ...] [--image-size S] [--batch B]
                         [--profile MODEL [--profile-dir DIR]]

Sections (all by default, in this order):

``peak``
    float32 ``tf.linalg.matmul`` of large square matrices, best of a few runs, all cores: the
    machine's reference GFLOP/s. With a GPU also bf16 / fp16 on the GPU.
``models``
    per registered model (paper backbone, width 1, ``--image-size``): parameters, FLOPs per image of the
    inference graph and of the training step (TF's registered per-op statistics, as the TF
    profiler, summed over the traced serving / ``train_step`` graph: forward, backward and
    optimizer; BatchMatMul counted by our formula, TF's misreads ``adj_x``), inference
    images/s (``serving_model()`` in a ``tf.function``) and training images/s (``model.compile`` then the model's own ``train_step`` in a ``tf.function`` on a
    synthetic batch with every required feature and target), and the achieved FLOP/s as a
    fraction of the matmul peak. ``keras_resnet50`` (``keras.applications.ResNet50``, no top,
    + a GAP/Dense head for training) is the reference row.
``ratios``
    each model / its baseline, training step and inference (the baseline a model class declares
    as ``benchmark_baseline``, or the registered model it extends); decomposed / naive SCC
    layer at the head's real sizes (forward, and forward + backward); all-AU one-pass (folded
    batch) / per-AU loop inference of AU-conditioned models. See ``benchmarks/ratios.py``.
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
    and per model's case (its recipe's augmentation, its targets), against the training
    step's consumption rate.
``precision``
    float32 vs mixed precision training/inference (GPU only; "awaits GPU" on CPU).

``--quick`` uses the papers' 256 px at batch 1 and few iterations (full: batch 8); ``--tiny``
(tests) uses ``tfau.models.TINY_CONFIG``. ``--profile MODEL`` traces MODEL's training step and
inference with ``tf.profiler`` and prints op time by type and by layer. Throughput is the best
(minimum-time) of the timed iterations after warm-up, as ``timeit``; medians are in the JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from benchmarks import memory, pipeline, ratios
from benchmarks.common import load_average, machine_info, print_table, tf_module
from benchmarks.models import ModelBench
from benchmarks.settings import REFERENCE, Settings, model_names

SECTIONS = ("peak", "models", "ratios", "memory", "pipeline", "precision")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="256 px at batch 1, few iterations")
    p.add_argument("--tiny", action="store_true", help="tfau.models.TINY_CONFIG sizes (tests)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                   help=f"sections to run (default all): {', '.join(SECTIONS)}")
    p.add_argument("--models", nargs="+", choices=model_names(), metavar="NAME")
    p.add_argument("--no-reference", action="store_true", help="skip the keras ResNet-50 row")
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--memory-sizes", type=int, nargs="+", metavar="H")
    p.add_argument("--data-dir", help="TFDS data dir of synthetic_au (built there if missing)")
    p.add_argument("--jit", action="store_true", help="jit_compile=True (XLA) for every step")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--profile", metavar="MODEL", choices=model_names() + (REFERENCE,),
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
    tf_module().get_logger().setLevel("ERROR")  # per-layer tf.functions in the ratios retrace by design
    if args.memory_child:
        print(json.dumps(memory.memory_child(json.loads(args.memory_child))))
        return None
    from tfau.data.pipeline import tune_malloc

    tune_malloc()  # as the trainer: keeps freed buffers mapped (page faults, system time)
    s = settings_from_args(args)
    sections = args.only or ([] if args.profile else list(SECTIONS))
    info = machine_info()
    print(f"benchmarks ({s.mode}) {info['date']}  {info['cpu']}, {info['cores']} cores"
          f"{', GPU ' + ', '.join(info['gpus']) if info['gpus'] else ', no GPU'}  "
          f"TF {info['tensorflow']}  Keras {info['keras']}  load {info['load_average']}")
    bench = ModelBench(s)
    if "ratios" in sections:
        bench.keep = ratios.keep_live(s)
    results = {"meta": {**info, "settings": dataclasses.asdict(s), "sections": sections,
                        "argv": list(sys.argv[1:] if argv is None else argv)}}
    runners = {"peak": bench.run_peak, "models": bench.run_models,
               "ratios": lambda: ratios.run(bench), "memory": lambda: memory.run(s),
               "pipeline": lambda: pipeline.run_section(bench), "precision": bench.run_precision}
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
                    [[c["name"], c.get("model") or c.get("what") or "",
                      c["value"], c["target"], {True: "yes", False: "NO", None: "-"}[c["met"]]]
                     for c in checks])
    print(f"\ntotal {results['meta']['wall_s']:.0f} s, load {results['meta']['load_average_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
