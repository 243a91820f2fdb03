"""ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): its results tables as data (F1 in percent), copied
from the paper's text (``/work/shared/papers/001_130f48d224625540.txt``; format:
``tfau.reproduce.papers.schema``). Values per AU in the paper's column order, then the Avg."""
from tfau.reproduce.papers.schema import better, not_better, paper, row, table

BP4D_OCC = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23",
            "AU24")
DISFA_OCC = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU12", "AU25", "AU26")


def _switches(negatives, gcn, supervision):
    return {"use_negatives": negatives, "use_gcn": gcn, "use_supervision": supervision}


ROI_GCN = paper(
    "Zhang, Wang, Yin. Region of Interest Based Graph Convolution: A Heatmap Regression Approach "
    "for Action Unit Detection. ACM MM 2020", "001_130f48d224625540.txt", {
        "1": table("Table 1: F1 of 12 AUs on BP4D database.", metrics=("f1",), dataset="bp4d",
                   protocol="bp4d_occurrence", folds="all", aus=BP4D_OCC, rows=[
            row("jpml_35", "JPML [35]", f1=[32.6, 25.6, 37.4, 42.3, 50.5, 72.2, 74.1, 65.7, 38.1,
                                            40.0, 30.4, 42.3, 45.9]),
            row("drml_36", "DRML [36]", f1=[36.4, 41.8, 43.0, 55.0, 67.0, 66.3, 65.8, 54.1, 33.2,
                                            48.0, 31.7, 30.0, 48.3]),
            row("eac_12", "EAC [12]", f1=[39.0, 35.2, 48.6, 76.1, 72.9, 81.9, 86.2, 58.8, 37.5,
                                          59.1, 35.9, 35.8, 55.9]),
            row("dsin_4", "DSIN [4]", f1=[51.7, 40.4, 56.0, 76.1, 73.5, 79.9, 85.4, 62.7, 37.3,
                                          62.9, 38.8, 41.6, 58.9]),
            row("jaa_22", "JAA [22]", f1=[47.2, 44.0, 54.9, 77.5, 74.6, 84.0, 86.9, 61.9, 43.6,
                                          60.3, 42.7, 41.9, 60.0]),
            row("arl_23", "ARL [23]", f1=[45.8, 39.8, 55.1, 75.7, 77.2, 82.3, 86.6, 58.8, 47.6,
                                          62.1, 47.4, 55.4, 61.1]),
            row("srerl_10", "SRERL [10]", f1=[46.9, 45.3, 55.6, 77.1, 78.4, 83.5, 87.6, 63.9,
                                              52.2, 63.9, 47.1, 52.3, 62.9]),
            row("lp_19", "LP [19]", f1=[43.4, 38.0, 54.2, 77.1, 76.7, 83.8, 87.2, 63.3, 45.3,
                                        60.5, 48.1, 54.2, 61.0]),
            row("ours", "Ours", "roi_gcn", f1=[52.6, 47.0, 61.4, 76.8, 79.2, 83.5, 88.6, 60.4,
                                               49.3, 62.6, 50.8, 49.6, 63.5]),
        ]),
        "2": table("Table 2: F1 of 8 AUs on DISFA database.", metrics=("f1",), dataset="disfa",
                   protocol="disfa_occurrence", folds="all", aus=DISFA_OCC, rows=[
            row("drml_36", "DRML [36]", f1=[17.3, 17.7, 37.4, 29.0, 10.7, 37.7, 38.5, 20.1, 26.7]),
            row("eac_12", "EAC [12]", f1=[41.5, 26.4, 66.4, 50.7, 80.5, 89.3, 88.9, 15.6, 48.5]),
            row("dsin_4", "DSIN [4]", f1=[42.4, 39.0, 68.4, 28.6, 46.8, 70.8, 90.4, 42.2, 53.6]),
            row("jaa_22", "JAA [22]", f1=[43.7, 46.2, 56.0, 41.4, 44.7, 69.6, 88.3, 58.4, 56.0]),
            row("arl_23", "ARL [23]", f1=[43.9, 42.1, 63.6, 41.8, 40.0, 76.2, 95.2, 66.8, 58.7]),
            row("srerl_10", "SRERL [10]", f1=[45.7, 47.8, 59.6, 47.1, 45.6, 73.5, 84.3, 43.6,
                                              55.9]),
            row("lp_19", "LP [19]", f1=[29.9, 24.7, 72.7, 46.8, 49.6, 72.9, 93.8, 65.0, 56.9]),
            row("ours", "Ours", "roi_gcn", f1=[55.0, 63.0, 74.6, 45.3, 35.2, 75.3, 93.5, 54.4,
                                               62.0]),
        ]),
        "3": table("Table 3: Ablation study on the BP4D dataset (F1, three-fold).",
                   metrics=("f1",), dataset="bp4d", protocol="bp4d_occurrence", folds="all",
                   aus=BP4D_OCC, rows=[
            row("heatmap", "Heatmap", "roi_gcn", options=_switches(False, False, False),
                f1=[55.2, 47.8, 59.0, 77.0, 77.6, 82.6, 88.5, 58.3, 47.5, 55.6, 47.1, 48.1, 62.0]),
            row("neg", "+ Neg. AUs", "roi_gcn", options=_switches(True, False, False),
                f1=[52.3, 49.4, 56.9, 77.5, 77.7, 83.6, 88.5, 61.9, 46.6, 61.2, 46.1, 48.5, 62.5]),
            row("neg_gcn", "+ Neg. AUs + GCN", "roi_gcn", options=_switches(True, True, False),
                f1=[50.9, 48.1, 60.6, 77.5, 77.4, 83.1, 88.5, 61.5, 46.7, 61.6, 48.6, 48.8, 62.8]),
            row("neg_gcn_sup", "+ Neg AUs + GCN + Supervision", "roi_gcn",
                options=_switches(True, True, True),
                f1=[52.6, 47.0, 61.4, 76.8, 79.2, 83.5, 88.6, 60.4, 49.3, 62.6, 50.8, 49.6, 63.5]),
        ], claims=[
            better("negatives + GCN + supervision beat the heatmap-only baseline (Table 3)",
                   "neg_gcn_sup", "heatmap", "f1"),
            better("negatives beat positives only (Table 3)", "neg", "heatmap", "f1"),
            better("supervision of the eigenvectors beats the unsupervised GCN (Table 3)",
                   "neg_gcn_sup", "neg_gcn", "f1"),
        ]),
        # "for both Eq. 4 and Eq. 7, we multiply with inverse occurrence rates before they average
        # over AUs" (Sec. 4.4); the first line of Table 4 is the positive-sample ratio in percent.
        "4": table("Table 4: Positive samples ratio of DISFA dataset and performance comparison "
                   "with/without loss balancing (F1).", metrics=("f1",), dataset="disfa",
                   protocol="disfa_occurrence", folds="all", aus=DISFA_OCC,
                   occurrence_rate=dict(zip(DISFA_OCC, (5.0, 4.3, 15.2, 7.9, 4.2, 12.9, 27.7,
                                                        8.8))), rows=[
            # weighted_loss: au_loss_weights = the training labels' inverse occurrence rates.
            row("weighted", "Weighted", "roi_gcn", options={"weighted_loss": True},
                f1=[52.7, 61.0, 72.5, 46.7, 37.8, 73.4, 93.6, 55.0, 61.6]),
            row("ours", "Ours", "roi_gcn",
                f1=[55.0, 63.0, 74.6, 45.3, 35.2, 75.3, 93.5, 54.4, 62.0]),
        ], claims=[not_better("loss balancing does not raise the average F1 (Table 4)",
                              "weighted", "ours", "f1")]),
    })
