"""The presets the recipes share (``Recipe.presets``).

``paper``: the papers' settings. ``cpu``: the offline default on the synthetic dataset, sized so
``python train_scripts/g2rl.py`` finishes in minutes on a 2-core CPU. ``tiny``: test-suite smoke
runs (the one definition of the tiny training sizes; the model is ``tfau.models.TINY_CONFIG``'s
backbone and width at 32 px, as the unit tests' ``tfau.testing.model_harness.tiny_kwargs``).
"""
from tfau.models.base import TINY_CONFIG
from tfau.recipes.base import Preset

# SCC-Heatmap / G2RL / ResNet-Deconv: ResNet-50 at 256 (maps 64x64); on BP4D intensity the papers
# use FERA 2015's train -> devel split. The official SCC code has two configs: the earlier
# main/config.py (batch 32, 15 epochs, /10 at epochs 10 and 15), which matches the paper's "a batch
# size of 32" and is the ``paper`` preset, and the later one (batch 16, 10 epochs, /10 at 5 and
# 10), the ``paper_b16`` preset. Their schedules are in tfau/recipes/scc_heatmap.py.
PAPER_HEATMAP = Preset(epochs=15, batch_size=32, image_size=256, backbone="resnet50",
                       backbone_weights="imagenet", folds="all",
                       dataset_folds={"bp4d/bp4d_intensity": "fera"})
# ROI-GCN: HRNetV2-W18 at 256, batch 32.
# ROI-GCN: "The backbone HRNetV2-W18 is pre-trained on ImageNet" (section 4.1). RE-Net does not
# say; it trains ResNet-18 in PyTorch, whose usual start is torchvision's ImageNet weights (our
# decision, README "Where we differ"). "imagenet" loads tfau's converted weights (issue 12);
# `--backbone_weights none` trains from scratch.
PAPER_ROI = Preset(epochs=30, batch_size=32, image_size=256, backbone="hrnetv2_w18",
                   backbone_weights="imagenet", folds="all")
# RE-Net / ResNet-18: 224 crops of the 256 faces, batch 100, at most 20 epochs (early stopping).
PAPER_RENET = Preset(epochs=20, batch_size=100, image_size=224, backbone="resnet18",
                     backbone_weights="imagenet", folds="all")

# CPU presets: a slim ResNet-18 from scratch on one fold of the synthetic data. The heatmap one
# (the main job) is sized to about 7 minutes from nothing on 2 cores with XLA (--jit auto).
CPU_HEATMAP = Preset(epochs=12, batch_size=16, image_size=96, width=0.25, backbone="resnet18",
                     learning_rate=1e-3, folds="1", cache=True)
CPU_ROI = Preset(epochs=8, batch_size=16, image_size=96, width=0.25, backbone="resnet18",
                 learning_rate=1e-3, folds="1", cache=True)
CPU_RESNET18 = Preset(epochs=8, batch_size=32, image_size=96, width=0.25, backbone="resnet18",
                      learning_rate=1e-3, folds="1", cache=True)

# Smoke tests: a few dozen examples at 32 px.
TINY = Preset(epochs=2, batch_size=8, image_size=32, width=TINY_CONFIG["width"],
              backbone=TINY_CONFIG["backbone"], learning_rate=1e-3, max_train_examples=32,
              max_test_examples=16, folds="1", cache=True)
