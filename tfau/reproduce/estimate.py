"""Expected GPU time of a study on the licensed data (paper preset, the table's folds).

No GPU was lent to this project, so these are estimates, not measurements: training FLOPs per
image from BENCHMARKS.md's analytic count ("Models (256 px, batch 1)", GFLOP/img train; ResNet-18
and RE-Net scaled to their 224 px crops) x training frames (a 3-fold protocol trains on 2/3 of the
frames three times, i.e. twice the dataset; FERA 2015 trains once on its train part) x the
paper preset's epochs, divided by an assumed sustained ``TFLOPS`` (mixed precision on a current
data-centre GPU). Evaluation is a forward pass over the test part, a third of a training epoch's
cost per fold at most, and is left out. RE-Net stops early: its figure is the maximum.
"""
from __future__ import annotations

from typing import Dict, Optional

from tfau.reproduce.papers import PAPERS

TFLOPS = 50.0
# BENCHMARKS.md, "Models (256 px, batch 1)": GFLOP per training image at 256 px.
TRAIN_GFLOP_256 = {"resnet_deconv": 35.6, "scc_heatmap": 50.8, "g2rl": 35.7, "roi_gcn": 28.4,
                   "resnet18": 14.5, "re_net": 14.5}
IMAGE_SIZE = {"resnet18": 224, "re_net": 224}   # the papers' crops; the others 256
# Paper-preset epochs (tfau/recipes/presets.py): heatmap models 10, ROI-GCN 30, RE-Net <= 20.
EPOCHS = {"resnet_deconv": 10, "scc_heatmap": 10, "g2rl": 10, "roi_gcn": 30, "resnet18": 20,
          "re_net": 20}
# Frames per dataset: DISFA 130,815 (left camera); BP4D about 146,000 occurrence frames (RE-Net:
# "around 140,000"); BP4D+ "around 192,000" (RE-Net); FERA 2015's BP4D train part about 75,600.
FRAMES = {"disfa": 130_815, "bp4d": 146_000, "bp4d_plus": 192_000}
FERA_TRAIN_FRAMES = 75_600


def training_images(dataset: str, folds: str) -> float:
    """Images seen per epoch summed over the protocol's folds."""
    if folds == "fera":
        return FERA_TRAIN_FRAMES
    n_folds = 3 if folds == "all" else 1
    return FRAMES[dataset] * 2 / 3 * n_folds


def row_gpu_hours(method: str, dataset: str, folds: str, tflops: float = TFLOPS) -> float:
    gflop = TRAIN_GFLOP_256[method] * (IMAGE_SIZE.get(method, 256) / 256) ** 2
    return gflop * 1e9 * training_images(dataset, folds) * EPOCHS[method] / (tflops * 1e12) / 3600


def table_gpu_hours(paper: str, table: str, seeds: int = 1,
                    tflops: float = TFLOPS) -> Dict[str, Optional[float]]:
    """``{row id: hours}`` for every row tfau trains (runnable now or not), times ``seeds``."""
    spec = PAPERS[paper]["tables"][table]
    return {r["id"]: seeds * row_gpu_hours(r["method"], spec["dataset"], spec["folds"], tflops)
            for r in spec["rows"] if r["method"]}


def markdown(seeds=(1, 3)) -> str:
    """The README's table: every table, its rows, the GPU hours for each seed count."""
    lines = ["| table (rows tfau trains) | " + " | ".join(
        f"GPU h, {s} seed{'s' if s > 1 else ''}" for s in seeds) + " |",
        "|---|" + "--:|" * len(seeds)]
    for paper, doc in PAPERS.items():
        for table, spec in doc["tables"].items():
            hours = table_gpu_hours(paper, table)
            if not hours:
                continue
            n = len(hours)
            rows = f"{n} row{'s' if n > 1 else ''}"
            lines.append(f"| {paper} {table} ({rows}, {spec['dataset']}) | " +
                         " | ".join(f"{s * sum(hours.values()):.1f}" for s in seeds) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
