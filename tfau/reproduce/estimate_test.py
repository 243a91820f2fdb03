import math

from tfau.reproduce import estimate


def test_gpu_hours_by_hand():
    # SCC-Heatmap on DISFA, 3 folds: 50.8 GFLOP x (2/3 x 130,815 frames x 3 folds) x 10 epochs
    # at 50 TFLOP/s.
    want = 50.8e9 * 130_815 * 2 * 10 / 50e12 / 3600
    hours = estimate.table_gpu_hours("scc_heatmap", "2")
    assert math.isclose(hours["a_dl3_scc"], want, rel_tol=1e-9)
    # RE-Net at its 224 px crops, BP4D, at most 20 epochs; FERA 2015 trains once.
    assert math.isclose(estimate.row_gpu_hours("re_net", "bp4d", "all"),
                        14.5e9 * (224 / 256) ** 2 * 146_000 * 2 * 20 / 50e12 / 3600)
    assert math.isclose(estimate.row_gpu_hours("g2rl", "bp4d", "fera"),
                        35.7e9 * 75_600 * 10 / 50e12 / 3600)
    # Reference rows cost nothing; seeds multiply.
    t7 = estimate.table_gpu_hours("re_net", "7", seeds=3)
    assert set(t7) == {"resnet18", "ours", "ours_learnable"}
    assert math.isclose(t7["ours"], 3 * estimate.row_gpu_hours("re_net", "bp4d", "all"))
    md = estimate.markdown()
    assert "| roi_gcn 3 (4 rows, bp4d) | 5.5 | 16.6 |" in md
