"""The four papers' ablation / sensitivity results as data, transcribed from the papers' text
(``/work/shared/papers``). Each table: ``title`` (the paper's caption), ``metric``, ``dataset``,
``protocol``, ``folds``, ``rows`` and ``claims``.

A row: ``id`` (stable: it names the run folder), ``label`` (the paper's setting name), ``method``
(recipe / model registry name, None for a reference-only row), ``options`` (model options),
``recipe_fields`` (recipe fields such as ``heatmap_sigma``), ``published`` ({metric: {AU or
"avg": value}}, None where the paper gives no number in its text), ``implemented`` (False with
``reason`` where we cannot train the row yet) and ``approximate`` (values read off a plot).

Claims: ``kind`` ``better`` (row ``a`` above row ``b`` on ``metric``; for MAE lower is better) or
``flat`` (no row differs from another beyond the seed intervals).
"""

NOT_YET_DECONV = ("a two-deconvolution (32x32 map) SCC-Heatmap: the map size is fixed at S/4 in "
                  "models/base.py and data/pipeline.py (issue 11, H6); not implemented yet")
NOT_YET_EDGE = ("the SCC edge-function switch ((f_i, f_j) / f_j - f_i) is not in SCCLayer yet "
                "(issue 11, H6); not implemented yet")

SCC_HEATMAP = {
    "paper": "Fan, Lam, Li. Facial Action Unit Intensity Estimation via Semantic Correspondence "
             "Learning with Dynamic Graph Convolution. AAAI 2020",
    "tables": {
        "2": {
            "title": "Table 2: Ablation studies w.r.t. SCC and HR, performed on the testing set of "
                     "the DISFA dataset. DL = number of deconvolutional layers, HR = heatmap "
                     "resolution.",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all",
            "rows": [
                {"id": "a_dl3_scc", "label": "(a) DL 3, HR 64x64, SCC", "method": "scc_heatmap",
                 "options": {}, "published": {"icc": {"avg": 0.47}, "mae": {"avg": 0.20}}},
                {"id": "b_dl3_noscc", "label": "(b) DL 3, HR 64x64, no SCC (ResNet-Deconv)",
                 "method": "resnet_deconv", "options": {},
                 "published": {"icc": {"avg": 0.40}, "mae": {"avg": 0.21}}},
                {"id": "c_dl2_scc", "label": "(c) DL 2, HR 32x32, SCC", "method": "scc_heatmap",
                 "implemented": False, "reason": NOT_YET_DECONV,
                 "published": {"icc": {"avg": 0.44}, "mae": {"avg": 0.23}}},
                {"id": "d_dl2_noscc", "label": "(d) DL 2, HR 32x32, no SCC",
                 "method": "resnet_deconv", "implemented": False, "reason": NOT_YET_DECONV,
                 "published": {"icc": {"avg": 0.38}, "mae": {"avg": 0.25}}},
            ],
            "claims": [
                {"text": "SCC improves ICC over ResNet-Deconv at 64x64 (Table 2, a vs b)",
                 "kind": "better", "a": "a_dl3_scc", "b": "b_dl3_noscc", "metric": "icc"},
                {"text": "SCC lowers MAE over ResNet-Deconv at 64x64 (Table 2, a vs b)",
                 "kind": "better", "a": "a_dl3_scc", "b": "b_dl3_noscc", "metric": "mae"},
                {"text": "64x64 maps beat 32x32 maps with SCC (Table 2, a vs c)",
                 "kind": "better", "a": "a_dl3_scc", "b": "c_dl2_scc", "metric": "icc"},
            ],
        },
        "3": {
            "title": "Table 3: Ablation studies w.r.t. EF, performed on the testing set of the "
                     "DISFA dataset. EF = edge features.",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all",
            "rows": [
                {"id": "e_fi_fjmfi", "label": "(e) (f_i, f_j - f_i)", "method": "scc_heatmap",
                 "options": {}, "published": {"icc": {"avg": 0.47}, "mae": {"avg": 0.20}}},
                {"id": "f_fi_fj", "label": "(f) (f_i, f_j)", "method": "scc_heatmap",
                 "implemented": False, "reason": NOT_YET_EDGE,
                 "published": {"icc": {"avg": 0.43}, "mae": {"avg": 0.22}}},
                {"id": "g_fjmfi", "label": "(g) f_j - f_i", "method": "scc_heatmap",
                 "implemented": False, "reason": NOT_YET_EDGE,
                 "published": {"icc": {"avg": 0.38}, "mae": {"avg": 0.21}}},
            ],
            "claims": [
                {"text": "(f_i, f_j - f_i) beats (f_i, f_j) in ICC (Table 3, e vs f)",
                 "kind": "better", "a": "e_fi_fjmfi", "b": "f_fi_fj", "metric": "icc"},
                {"text": "(f_i, f_j - f_i) beats f_j - f_i in ICC (Table 3, e vs g)",
                 "kind": "better", "a": "e_fi_fjmfi", "b": "g_fjmfi", "metric": "icc"},
            ],
        },
        "fig6": {
            "title": "Figure 6: Comparison of results with different numbers of nearest "
                     "neighbors (k). (Values are only in the plot; the text form of the paper "
                     "we hold carries no numbers, so the published column is empty.)",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all", "sweep": "k",
            "rows": [{"id": f"k{k}", "label": f"k = {k}", "method": "scc_heatmap",
                      "options": {"k": k}, "sweep_value": k, "published": None,
                      "approximate": True} for k in (3, 5, 7, 9)],
            "claims": [{"text": "performance is flat in k (Fig. 6: 'not overly sensitive to k')",
                        "kind": "flat", "rows": ["k3", "k5", "k7", "k9"], "metric": "icc"}],
        },
    },
}

G2RL = {
    "paper": "Fan, Lin. G2RL: Geometry-Guided Representation Learning for Facial Action Unit "
             "Intensity Estimation. IJCAI 2020",
    "tables": {
        "1": {
            "title": "Table 1: Performance comparison with related work on two spontaneous AU "
                     "intensity datasets. (The text form we hold scrambles the table's columns; "
                     "only the averages stated in the text, Sec. 4.2, are carried: 'an ICC score "
                     "of 0.69 and a MAE score of 0.58 on BP4D, as well as an ICC score of 0.52 "
                     "and a MAE score of 0.2 on DISFA'. Here the DISFA part.)",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all",
            "rows": [
                {"id": "baseline", "label": "Baseline (ResNet-Deconv)", "method": "resnet_deconv",
                 "options": {}, "published": None},
                {"id": "g2rl", "label": "G2RL", "method": "g2rl", "options": {},
                 "published": {"icc": {"avg": 0.52}, "mae": {"avg": 0.2}}},
            ],
            "claims": [{"text": "G2RL beats ResNet-Deconv in ICC (Table 1)", "kind": "better",
                        "a": "g2rl", "b": "baseline", "metric": "icc"}],
        },
        "fig6": {
            "title": "Figure 6: Parameter sensitivity study for G2RL on BP4D and DISFA with "
                     "varying sigma in {0.2, 0.5, 1, 2, 5}. (Plot values; none in the text form "
                     "we hold, so the published column is empty.)",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all", "sweep": "sigma",
            "rows": [{"id": f"sigma{s}", "label": f"sigma = {s}", "method": "g2rl",
                      "recipe_fields": {"heatmap_sigma": s}, "sweep_value": s,
                      "published": None, "approximate": True}
                     for s in (0.2, 0.5, 1.0, 2.0, 5.0)],
            "claims": [{"text": "ICC and MAE are not overly sensitive to sigma (Fig. 6)",
                        "kind": "flat", "rows": [f"sigma{s}" for s in (0.2, 0.5, 1.0, 2.0, 5.0)],
                        "metric": "icc"}],
        },
        "fig7": {
            "title": "Figure 7: Parameter sensitivity study for G2RL on BP4D and DISFA with "
                     "varying lambda in {0.005, 0.01, 0.05, 0.1, 0.5}. (Plot values; none in the "
                     "text form we hold.)",
            "metrics": ["icc", "mae"], "dataset": "disfa", "protocol": "disfa_intensity",
            "folds": "all", "sweep": "lambda",
            "rows": [{"id": "baseline", "label": "ResNet-Deconv (no geometry)",
                      "method": "resnet_deconv", "options": {}, "published": None}] +
                    [{"id": f"lambda{v}", "label": f"lambda = {v}", "method": "g2rl",
                      "options": {"g2rl_lambda": v}, "sweep_value": v, "published": None,
                      "approximate": True} for v in (0.005, 0.01, 0.05, 0.1, 0.5)],
            "claims": [
                {"text": "G2RL (lambda = 0.05) beats ResNet-Deconv in ICC", "kind": "better",
                 "a": "lambda0.05", "b": "baseline", "metric": "icc"},
                {"text": "lambda = 0.05 is better than lambda = 0.5 (Fig. 7: best at 0.05)",
                 "kind": "better", "a": "lambda0.05", "b": "lambda0.5", "metric": "icc"},
            ],
        },
    },
}

_ROI_AUS = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23",
            "AU24"]


def _f1(values):
    return {"f1": dict(zip(_ROI_AUS + ["avg"], values))}


ROI_GCN = {
    "paper": "Zhang, Wang, Yin. Region of Interest Based Graph Convolution: A Heatmap Regression "
             "Approach for Action Unit Detection. ACM MM 2020",
    "tables": {
        "3": {
            "title": "Table 3: Ablation study on the BP4D dataset (F1, three-fold).",
            "metrics": ["f1"], "dataset": "bp4d", "protocol": "bp4d_occurrence", "folds": "all",
            "rows": [
                {"id": "heatmap", "label": "Heatmap", "method": "roi_gcn",
                 "options": {"use_negatives": False, "use_gcn": False, "use_supervision": False},
                 "published": _f1([55.2, 47.8, 59.0, 77.0, 77.6, 82.6, 88.5, 58.3, 47.5, 55.6,
                                   47.1, 48.1, 62.0])},
                {"id": "neg", "label": "+ Neg. AUs", "method": "roi_gcn",
                 "options": {"use_negatives": True, "use_gcn": False, "use_supervision": False},
                 "published": _f1([52.3, 49.4, 56.9, 77.5, 77.7, 83.6, 88.5, 61.9, 46.6, 61.2,
                                   46.1, 48.5, 62.5])},
                {"id": "neg_gcn", "label": "+ Neg. AUs + GCN", "method": "roi_gcn",
                 "options": {"use_negatives": True, "use_gcn": True, "use_supervision": False},
                 "published": _f1([50.9, 48.1, 60.6, 77.5, 77.4, 83.1, 88.5, 61.5, 46.7, 61.6,
                                   48.6, 48.8, 62.8])},
                {"id": "neg_gcn_sup", "label": "+ Neg AUs + GCN + Supervision",
                 "method": "roi_gcn",
                 "options": {"use_negatives": True, "use_gcn": True, "use_supervision": True},
                 "published": _f1([52.6, 47.0, 61.4, 76.8, 79.2, 83.5, 88.6, 60.4, 49.3, 62.6,
                                   50.8, 49.6, 63.5])},
            ],
            "claims": [
                {"text": "negatives + GCN + supervision beat the heatmap-only baseline (Table 3)",
                 "kind": "better", "a": "neg_gcn_sup", "b": "heatmap", "metric": "f1"},
                {"text": "negatives beat positives only (Table 3)", "kind": "better",
                 "a": "neg", "b": "heatmap", "metric": "f1"},
                {"text": "supervision of the eigenvectors beats the unsupervised GCN (Table 3)",
                 "kind": "better", "a": "neg_gcn_sup", "b": "neg_gcn", "metric": "f1"},
            ],
        },
        "4": {
            "title": "Table 4: Positive samples ratio of DISFA dataset and performance comparison "
                     "with/without loss balancing (F1).",
            "metrics": ["f1"], "dataset": "disfa", "protocol": "disfa_occurrence",
            "folds": "all",
            "occurrence_rate": {"AU1": 5.0, "AU2": 4.3, "AU4": 15.2, "AU6": 7.9, "AU9": 4.2,
                                "AU12": 12.9, "AU25": 27.7, "AU26": 8.8},
            "rows": [
                {"id": "weighted", "label": "Weighted", "method": "roi_gcn",
                 "implemented": False,
                 "reason": "the inverse-occurrence weighting of Eq. 4 and Eq. 7 is not a model "
                           "option yet (issue 11, H6); not implemented yet",
                 "published": {"f1": {"AU1": 52.7, "AU2": 61.0, "AU4": 72.5, "AU6": 46.7,
                                      "AU9": 37.8, "AU12": 73.4, "AU25": 93.6, "AU26": 55.0,
                                      "avg": 61.6}}},
                {"id": "ours", "label": "Ours", "method": "roi_gcn", "options": {},
                 "published": {"f1": {"AU1": 55.0, "AU2": 63.0, "AU4": 74.6, "AU6": 45.3,
                                      "AU9": 35.2, "AU12": 75.3, "AU25": 93.5, "AU26": 54.4,
                                      "avg": 62.0}}},
            ],
            "claims": [{"text": "loss balancing does not raise the average F1 (Table 4)",
                        "kind": "not_better", "a": "weighted", "b": "ours", "metric": "f1"}],
        },
    },
}

RE_NET = {
    "paper": "Yang, Yin. RE-Net: A Relation Embedded Deep Model for AU Occurrence and Intensity "
             "Estimation. ACCV 2020",
    "tables": {
        "7": {
            "title": "Table 7: F1-scores of different methods with AU relation on the BP4D "
                     "dataset. Learnable: the AU relation is learned through training.",
            "metrics": ["f1"], "dataset": "bp4d", "protocol": "bp4d_occurrence", "folds": "all",
            "rows": [
                {"id": "jpml", "label": "JPML [10] (image patch)", "method": None,
                 "published": {"f1": {"avg": 45.9}}},
                {"id": "drml", "label": "DRML [11] (image patch)", "method": None,
                 "published": {"f1": {"avg": 48.3}}},
                {"id": "dsin", "label": "DSIN [12] (deep features)", "method": None,
                 "published": {"f1": {"avg": 58.9}}},
                {"id": "srerl", "label": "SRERL [13] (deep features)", "method": None,
                 "published": {"f1": {"avg": 62.9}}},
                {"id": "resnet18", "label": "ResNet18 (none)", "method": "resnet18",
                 "options": {}, "published": {"f1": {"avg": 59.6}}},
                {"id": "ours", "label": "Ours (model's parameters)", "method": "re_net",
                 "options": {}, "published": {"f1": {"avg": 65.5}}},
                {"id": "ours_learnable", "label": "Ours + learnable", "method": "re_net",
                 "options": {"learnable_graph": True}, "published": {"f1": {"avg": 63.7}}},
            ],
            "claims": [
                {"text": "RE-Net beats ResNet-18 (Table 7)", "kind": "better", "a": "ours",
                 "b": "resnet18", "metric": "f1"},
                {"text": "the learnable relation beats ResNet-18 (Table 7)", "kind": "better",
                 "a": "ours_learnable", "b": "resnet18", "metric": "f1"},
                {"text": "the fixed Pearson relation beats the learnable one (Table 7)",
                 "kind": "better", "a": "ours", "b": "ours_learnable", "metric": "f1"},
            ],
        },
    },
}

RE_NET["tables"]["6"] = {
    "title": "Table 6: F1 scores of 12 AUs on BP4D; the coloured AU is removed during training "
             "and only used for testing. (The colour is lost in the text form; the text names "
             "the unseen AUs as AU23 and AU24, and each row's lowest-in-context value suggests "
             "row 1 = AU23 removed, row 2 = AU24 removed: approximate assignment.)",
    "metrics": ["f1"], "dataset": "bp4d", "protocol": "bp4d_occurrence", "folds": "all",
    "rows": [
        {"id": "new_au23", "label": "AU23 unseen in training", "method": "re_net",
         "implemented": False, "approximate": True,
         "reason": "excluding one AU from training with eq. 4-5 parameters at test is not a "
                   "model option yet (issue 11, H6); not implemented yet",
         "published": _f1([44.1, 69.0, 73.8, 80.2, 62.2, 88.1, 89.2, 38.5, 53.7, 60.6, 27.6,
                           68.2, 62.9])},
        {"id": "new_au24", "label": "AU24 unseen in training", "method": "re_net",
         "implemented": False, "approximate": True,
         "reason": "excluding one AU from training is not a model option yet (issue 11, H6); "
                   "not implemented yet",
         "published": _f1([89.9, 77.5, 53.6, 66.9, 39.7, 70.4, 81.5, 52.2, 86.6, 45.7, 63.8,
                           37.3, 63.6])},
    ],
    "claims": [],
}
RE_NET["tables"]["8"] = {
    "title": "Table 8: F1-score of ablation study for 12 AUs on BP4D. DA: data augmentation "
             "(duplicating AU1, AU2, AU15, AU23, AU24 samples once when positive). The ResNet18 "
             "rows are empty in the text form we hold; the text says ResNet18 gains 1.3% with DA "
             "and RE-Net differs by 0.1%.",
    "metrics": ["f1"], "dataset": "bp4d", "protocol": "bp4d_occurrence", "folds": "all",
    "rows": [
        {"id": "resnet18_noda", "label": "ResNet18 w/o DA", "method": "resnet18", "options": {},
         "published": None},
        {"id": "resnet18_da", "label": "ResNet18 + DA", "method": "resnet18",
         "implemented": False,
         "reason": "positive-sample duplication is not a data option yet (issue 11, H6); not "
                   "implemented yet", "published": None},
        {"id": "ours_noda", "label": "Ours w/o DA", "method": "re_net", "options": {},
         "published": _f1([57.7, 59.0, 66.9, 76.3, 77.0, 88.9, 89.8, 70.9, 42.0, 62.8, 44.8,
                           49.3, 65.5])},
        {"id": "ours_da", "label": "Ours + DA", "method": "re_net", "implemented": False,
         "reason": "positive-sample duplication is not a data option yet (issue 11, H6); not "
                   "implemented yet", "published": None},
    ],
    "claims": [{"text": "duplication helps ResNet18 (Table 8, +1.3%)", "kind": "better",
                "a": "resnet18_da", "b": "resnet18_noda", "metric": "f1"}],
}

from tfau.reproduce.main_tables import MAIN_TABLES  # noqa: E402

for _paper, _doc in (("scc_heatmap", SCC_HEATMAP), ("roi_gcn", ROI_GCN), ("re_net", RE_NET)):
    _doc["tables"].update(MAIN_TABLES[_paper])

PAPERS = {"scc_heatmap": SCC_HEATMAP, "g2rl": G2RL, "roi_gcn": ROI_GCN, "re_net": RE_NET}
