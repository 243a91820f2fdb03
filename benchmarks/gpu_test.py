"""CPU dry run of the GPU benchmark (issue 15): ``benchmarks/gpu.py --tiny`` runs two registered
models (the first of each task, asked of the registry; every model trains on JAX in
``tests/backends``) in float32 and both mixed precisions plus the layer ratios, and its output
names every figure. Runs where JAX is importable (the TF-free venv of ``.ci/backends``); skips
elsewhere. XLA's CPU compiles dominate: ~10-30 s per configuration on 2 cores."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = ("matmul peak", "step ms", "img/s", "GFLOP/img", "TFLOP/s", "of peak", "memory GiB",
           "compile s", "mixed/fp32", "peak GPU memory", "SCC decomposed/naive",
           "SpectralGraphConv factored/explicit A", "target ", "wall")

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="needs jax: runs in the JAX venv of .ci/backends")


def _run(tmp_path, *flags):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "gpu.py"), "--tiny", "--json",
                           str(out), "--budget_s", "100000", *flags], env=env,
                          capture_output=True, text=True, timeout=1500)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def _one_per_task():
    from tfau.models import model_class, model_names

    firsts = {}
    for name in model_names():
        firsts.setdefault(model_class(name).supported_tasks[0], name)
    return sorted(firsts.values())


def test_dry_run_names_every_figure(tmp_path):
    names = _one_per_task()
    assert len(names) == 2
    proc, result = _run(tmp_path, "--models", ",".join(names))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for figure in FIGURES:
        assert figure in proc.stdout, f"{figure!r} missing from the output:\n{proc.stdout}"
    runs = {(r["model"], r["precision"]): r for r in result["models"]}
    assert set(runs) == {(m, p) for m in names
                         for p in ("float32", "mixed_bfloat16", "mixed_float16")}
    for key, r in runs.items():
        assert "error" not in r, (key, r.get("error"))
        assert r["finite"] and r["img_per_s"] > 0 and r["gflop_per_img"] > 0, (key, r)
        assert r["of_peak"] > 0 and r["peak_dtype"] in ("float32", "bfloat16", "float16")
        assert r["memory_gib"] is None or r["memory_gib"] > 0
    assert set(result["matmul_peak_tflops"]) == {"float32", "bfloat16", "float16"}
    assert set(result["mixed_over_fp32"]) == set(names)
    assert result["scc"]["ratio"] > 0 and len(result["scc"]["stages"]) == 3
    assert result["spectral"]["ratio"] > 0 and result["spectral"]["nodes"] == 12
    # the two targets, per model
    whats = [t["what"] for t in result["targets"]]
    assert sum(w.startswith("mixed/fp32") for w in whats) == len(names)
    assert sum(w.startswith("of peak") for w in whats) == len(names)


def test_bad_arguments_are_named(tmp_path):
    proc, _ = _run(tmp_path, "--precisions", "float64")
    assert proc.returncode != 0 and "--precisions" in proc.stderr
    proc, _ = _run(tmp_path, "--models", "no_such_model")
    assert proc.returncode != 0 and "--models" in proc.stderr and "no_such_model" in proc.stderr
