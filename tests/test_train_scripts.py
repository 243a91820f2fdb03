"""Every train script end to end on the tiny preset: train, evaluate on the held-out fold, write
the table, export a SavedModel; then `tfau evaluate` and `tfau export` on the results.

(g2rl.py itself runs as `python train_scripts/g2rl.py` in test_resume.py.)
"""
import json
import os

import numpy as np
import pytest

from tfau import aus, cli, export

SCRIPTS = {  # script -> tiny synthetic config
    "scc_heatmap": "disfa_intensity_tiny",
    "resnet_deconv": "disfa_intensity_tiny",
    "roi_gcn": "bp4d_occurrence_tiny",
    "re_net": "bp4d_occurrence_tiny",
    "resnet18": "bp4d_occurrence_tiny",
}

RUN_ALL = """
import runpy, sys
from tfau.training import main
data_dir, out, exp = sys.argv[1:4]
for item in sys.argv[4:]:
    name, config = item.split("=")
    main(name, ["--preset", "tiny", "--config", config, "--data_dir", data_dir,
                  "--output_dir", f"{out}/{name}", "--export_dir", exp, "--verbose", "0"])
"""


@pytest.fixture(scope="module")
def runs(tiny_data_dir, tmp_path_factory, run_python_session):
    run_python = run_python_session
    out = str(tmp_path_factory.mktemp("runs"))
    exp = str(tmp_path_factory.mktemp("saved_models"))
    proc = run_python(["-c", RUN_ALL, tiny_data_dir, out, exp,
                       *[f"{k}={v}" for k, v in SCRIPTS.items()]])
    return out, exp, proc.stdout


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_writes_table_results_and_savedmodel(runs, name):
    out, exp, stdout = runs
    config = SCRIPTS[name]
    protocol = aus.get_protocol(config[: -len("_tiny")])
    run_dir = os.path.join(out, name)
    with open(os.path.join(run_dir, "results.json")) as f:
        doc = json.load(f)
    res = doc["results"]
    assert res["protocol"] == protocol.name and res["aus"] == list(protocol.au_names)
    assert res["n_frames"] == 16  # the held-out fold1 of the tiny set
    metrics = ("icc", "mae") if protocol.task == "intensity" else ("f1", "accuracy")
    for m in metrics:
        assert set(res[m]) == set(protocol.au_names) | {"avg"}
    if protocol.task == "intensity":
        assert all(0 <= res["mae"][a] <= 5 for a in protocol.au_names)
    else:
        assert all(0 <= res["accuracy"][a] <= 1 for a in protocol.au_names)
    with open(os.path.join(run_dir, "results.md")) as f:
        table = f.read()
    # models that report several decodings (ROI-GCN, issue 11 item 4) add a Method column
    columns = ["Metric", *(["Method"] if "variants" in doc else []), *protocol.au_names, "Avg"]
    assert "| " + " | ".join(columns) + " |" in table
    assert table.split("\n", 2)[2] in stdout  # the same table was printed
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    assert run["method"] == name and run["fold"] == 1 and run["preset"] == "tiny"
    assert run["train_split"] == "fold2+fold3" and run["test_split"] == "fold1"
    saved = os.path.join(exp, f"{name}_synthetic_au_{config}_fold1")
    meta = export.read_metadata(saved)
    assert meta["method"] == name and meta["au_names"] == list(protocol.au_names)
    assert meta["image_size"] == 32 and meta["fold"] == 1
    assert ("maps" in meta["outputs"]) == (name in ("scc_heatmap", "resnet_deconv", "roi_gcn"))
    if name == "roi_gcn":  # issue 11 item 4: per-face windows reported, template beside them
        from tfau.models.roi_gcn import ROIGCN

        assert list(doc["variants"]) == [ROIGCN.EVAL_LANDMARKS, ROIGCN.EVAL_TEMPLATE]
        assert doc["variants"][ROIGCN.EVAL_LANDMARKS]["f1"] == res["f1"]
        assert ROIGCN.EVAL_LANDMARKS in table and ROIGCN.EVAL_TEMPLATE in table
    else:
        assert "variants" not in doc


def test_re_net_graph_is_the_training_label_correlation(runs, tiny_data_dir):
    from tfau import data
    from tfau.layers.graph_batch_norm import pearson_correlation

    out, _, _ = runs
    with open(os.path.join(out, "re_net", "run.json")) as f:
        run = json.load(f)
    val = set(run["validation_subjects"])
    assert len(val) == 1  # early stopping monitors one held-out training subject
    ds = data.load_split("synthetic_au", "bp4d_occurrence_tiny", "fold2+fold3", tiny_data_dir,
                         decode_image=False)
    rows = [(ex["labels"], ex["label_mask"]) for ex in ds.as_numpy_iterator()
            if ex["subject"].decode() not in val]
    labels = np.stack([r[0] for r in rows])
    mask = np.stack([r[1] for r in rows])
    np.testing.assert_allclose(np.array(run["derived_options"]["correlation"]), pearson_correlation(labels, mask),
                               atol=1e-6)
    assert run["n_train"] == len(rows)


def test_cli_evaluate_and_export_agree_with_the_trainer(runs, tiny_data_dir, tmp_path):
    out, exp, _ = runs
    saved = os.path.join(exp, "resnet_deconv_synthetic_au_disfa_intensity_tiny_fold1")
    results = cli.evaluate_model(saved, "synthetic_au", "disfa_intensity_tiny", "fold1",
                                 data_dir=tiny_data_dir, output=str(tmp_path / "eval"))
    with open(os.path.join(out, "resnet_deconv", "results.json")) as f:
        trainer_results = json.load(f)["results"]
    # the SavedModel resizes the 256 faces itself; the trainer's pipeline resized them to 32 px
    np.testing.assert_allclose(results["mae"]["avg"], trainer_results["mae"]["avg"], atol=0.02)
    files = sorted(os.listdir(tmp_path / "eval"))
    assert files == ["synthetic_au_disfa_intensity_tiny_fold1.json",
                     "synthetic_au_disfa_intensity_tiny_fold1.md",
                     "synthetic_au_disfa_intensity_tiny_fold1_metrics.png"]
    import cv2

    plot = cv2.imread(str(tmp_path / "eval" / files[2]))  # matplotlib: ICC and MAE panels
    assert plot.ndim == 3 and plot.shape[1] > plot.shape[0] and plot.std() > 10

    # the run folder's final.keras and the run folder itself load in one line (tfau.Detector)
    import tfau

    run_dir = os.path.join(out, "resnet_deconv")
    ref = export.load(saved).predict(np.zeros((1, 32, 32, 3), np.uint8) + 90)["au"]
    for source in (run_dir, os.path.join(run_dir, "final.keras")):
        det = tfau.Detector(source)
        assert det.au_names == list(aus.get_protocol("disfa_intensity").au_names)
        np.testing.assert_allclose(det.predict_aligned(np.zeros((1, 32, 32, 3), np.uint8) + 90)
                                   ["au"], ref, atol=1e-4)

    # `tfau export` from the run folder gives the same model as the trainer's export
    again = str(tmp_path / "again")
    assert cli.main(["export", "--checkpoint", os.path.join(out, "resnet_deconv"),
                     "--output", again]) == 0
    faces = np.random.RandomState(0).randint(0, 256, (2, 256, 256, 3)).astype(np.uint8)
    np.testing.assert_allclose(export.load(again).predict(faces)["au"],
                               export.load(saved).predict(faces)["au"], rtol=1e-5, atol=1e-6)


# The papers' ablations, each from its train script on the tiny preset (issue 11): one epoch on a
# few examples, checking the run trained what the flags asked for. Several switches share a run
# to keep the suite short.
ABLATIONS = {
    # SCC-Heatmap Table 2 (c): two deconvolutions (maps at S/8) with SCC after both; Fig. 6: k;
    # Table 3 (f): edge features (f_i, f_j)
    "scc_t2c_f6_t3f": ("scc_heatmap", ["--model_option", "head_filters=256,128",
                                       "--model_option", "scc_stages=0,1", "--model_option", "k=3",
                                       "--model_option", "scc_edge_features=centre_neighbour"]),
    # SCC-Heatmap Table 2 (d): two deconvolutions, no SCC
    "scc_t2d": ("scc_heatmap", ["--model_option", "head_filters=256,128",
                                "--model_option", "scc_stages=[]"]),
    # SCC-Heatmap Table 3 (g): edge features f_j - f_i, in the official layout
    "scc_t3g": ("scc_heatmap", ["--model_option", "scc_edge_features=offset",
                                "--model_option", "layout=official"]),
    # G2RL Figs. 6-7: heatmap sigma and lambda; the stop-gradient teacher (issue 11 item 9)
    "g2rl_f6_f7": ("g2rl", ["--heatmap_sigma", "3", "--model_option", "g2rl_lambda=0.2",
                            "--model_option", "geometry_teacher=stop_gradient"]),
}

RUN_ABLATIONS = """
import sys
from tfau.training import main
data_dir, out = sys.argv[1:3]
for item in sys.argv[3:]:
    tag, name, *flags = item.split(" ")
    main(name, ["--preset", "tiny", "--config", "disfa_intensity_tiny", "--data_dir", data_dir,
                "--output_dir", f"{out}/{tag}", "--no_export", "--verbose", "0", "--epochs",
                "1", "--max_train_examples", "8", "--jit", "false", *flags])
"""


@pytest.fixture(scope="module")
def ablation_runs(tiny_data_dir, tmp_path_factory, run_python_session):
    out = str(tmp_path_factory.mktemp("ablations"))
    run_python_session(["-c", RUN_ABLATIONS, tiny_data_dir, out,
                        *[" ".join([tag, name, *flags]) for tag, (name, flags)
                          in ABLATIONS.items()]], timeout=1800)
    return out


@pytest.mark.parametrize("tag", sorted(ABLATIONS))
def test_paper_ablation_runs_from_its_train_script(ablation_runs, tag):
    from tfau import runs as runs_lib

    name, _ = ABLATIONS[tag]
    run_dir = os.path.join(ablation_runs, tag)
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    with open(os.path.join(run_dir, "results.json")) as f:
        res = json.load(f)["results"]
    assert run["method"] == name and np.isfinite(res["mae"]["avg"])
    model = runs_lib.build_from_run(run)
    if name == "g2rl":
        assert run["heatmap_sigma"] == 3.0
        assert model.g2rl_lambda == 0.2 and model.geometry_teacher == "stop_gradient"
        return
    scc = [l for l in model.encoder.layers if type(l).__name__ == "SCCLayer"]
    if tag.startswith("scc_t2"):
        assert model.head_filters == (256, 128)
        assert model.map_stride == 8 and model.map_size == 4  # 32 px input, maps at S/8
    if tag == "scc_t2c_f6_t3f":
        assert [l.name for l in scc] == ["head_scc1", "head_scc2"]
        assert all(l.k == 3 and l.edge_features == "centre_neighbour" for l in scc)
    elif tag == "scc_t2d":
        assert not scc
    else:
        assert model.map_size == 8 and len(scc) == 3
        assert all(l.edge_features == "offset" and l.layout == "official" and l.k == 7
                   and l.use_batch_norm for l in scc)
