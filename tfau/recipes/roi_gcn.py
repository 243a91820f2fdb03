"""ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): HRNetV2-W18 ROI maps + spectral graph convolution.

Adam 1e-4, x0.1 every 10 epochs (30 epochs: the paper gives no count), weight decay 5e-4
(PyTorch-style coupled, = Keras L2 2.5e-4), batch 32. Augmentation (§4.1): random rotation of
+-30 degrees on BP4D / BP4D+ and +-10 degrees on DISFA (and on ``synthetic_au``, whose faces are
DISFA-like frontal video), plus horizontal flip. The paper preset starts from ImageNet weights.

Ablations (``--model_option``): Table 3 ``use_negatives=false`` (positive-only "Heatmap"),
``use_supervision=false`` (GCN without Loss1), ``use_gcn=false``; Table 4 ``weighted_loss=true``.
"""
from tfau.data.augment import AugmentConfig
from tfau.recipes import presets as P
from tfau.recipes.base import Recipe, register_recipe
from tfau.training.optim import OptimizerSpec

ROI_GCN = register_recipe(Recipe(
    method="roi_gcn",
    task="occurrence",
    configs={"synthetic_au": "bp4d_occurrence", "disfa": "occurrence", "bp4d": "occurrence",
             "bp4d_plus": "occurrence"},
    optimizer=OptimizerSpec(learning_rate=1e-4, decay_every=10, paper_epochs=30, l2=2.5e-4),
    presets={"paper": P.PAPER_ROI, "cpu": P.CPU_ROI, "tiny": P.TINY},
    augment={"bp4d": AugmentConfig(flip=True, rotation=30.0),
             "bp4d_plus": AugmentConfig(flip=True, rotation=30.0),
             "default": AugmentConfig(flip=True, rotation=10.0)},
    paper="Zhang, Wang, Yin, ACM MM 2020",
    description="ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): HRNetV2-W18 ROI maps + spectral graph "
                "convolution, AU occurrence.",
))
