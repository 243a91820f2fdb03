"""Smoke test of ``python -m benchmarks`` on tiny sizes (``tfau.models.TINY_CONFIG``)."""
import json

import tensorflow as tf

from benchmarks import run


def test_tiny_run_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    results = run.main([
        "--tiny", "--only", "peak", "models", "ratios", "precision",
        "--models", "resnet_deconv", "re_net", "--json", str(out),
    ])
    saved = json.loads(out.read_text())
    assert saved["peak"]["cpu_float32"]["gflops"] > 0
    rows = {r["model"]: r for r in saved["models"]["rows"]}
    assert set(rows) == {"resnet_deconv", "re_net"}
    for row in rows.values():
        for key in ("infer_gflops_per_image", "infer_images_per_s", "train_gflops_per_image",
                    "train_images_per_s", "infer_fraction_of_peak", "train_fraction_of_peak"):
            assert row[key] > 0, (row["model"], key)
        # One trace per compiled function: no retracing in the timed loops.
        assert row["infer_traces"] == 1 and row["train_traces"] == 1
        assert not row["train_nested_calls"]
    # RE-Net's all-AU inference folds the A AUs into the batch: A x the FLOPs of a single-AU
    # forward pass; training runs one AU per batch (about 3 x a forward pass).
    re_net = rows["re_net"]
    single_au_forward = re_net["train_gflops_per_image"] / 3
    assert re_net["infer_gflops_per_image"] > 0.7 * re_net["n_aus"] * single_au_forward
    ratios = results["ratios"]
    per_au = {r["model"]: r for r in ratios["per_au"]}
    assert set(per_au) == {"re_net"}  # the AU-conditioned model, found by its class
    assert per_au["re_net"]["max_abs_diff"] < 1e-4
    # re_net's baseline (the registered model it extends) is not in this run: no pair
    assert ratios["pairs"] == []
    assert len(ratios["scc_layer"]["stages"]) == 3
    for stage in ratios["scc_layer"]["stages"]:
        # The explicit edge tensor costs k x the neighbour projections' FLOPs.
        assert stage["naive_gflops_fwd"] > stage["decomposed_gflops_fwd"]
    if not tf.config.list_physical_devices("GPU"):
        assert saved["precision"]["status"] == "awaits GPU"
    assert all(c["met"] in (True, False) for c in saved["targets"])


def test_tfau_bench_forwards_to_the_benchmarks(capsys):
    from tfau import bench

    with __import__("pytest").raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    assert "python -m benchmarks" in capsys.readouterr().out
