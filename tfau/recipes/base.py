"""What a paper's training recipe declares, and the recipe registry.

A ``Recipe`` holds a paper's training facts: the optimiser and schedule, the named ``Preset``s
(how big a run is), the default dataset config per dataset, the augmentation per dataset, the
paper preset's folds per dataset/protocol (BP4D intensity: FERA 2015 train -> devel), the target
settings (heatmap sigma) and early stopping. Model facts (the tasks a model supports, options
derived from the training labels) belong to the model class (``tfau.models.base.AUModel``).

Presets:
  ``paper``  the paper's settings (full image size, ImageNet backbone, paper batch size/epochs);
             the default on the licensed datasets (disfa, bp4d, bp4d_plus).
  ``cpu``    a small configuration that trains to a useful model on the offline synthetic
             dataset in minutes on a laptop CPU; the default on ``synthetic_au``.
  ``tiny``   a smoke-test configuration for the test suite (a few dozen examples, 32 px).

Recipes are registered under their model's registry name (``tfau.models.build_model``):
``get_recipe("g2rl")``; each paper's recipes live in ``tfau/recipes/<paper>.py``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

from tfau import aus as aus_lib
from tfau.data.augment import AugmentConfig
from tfau.training.optim import OptimizerSpec

# Filled by register_recipe in the per-paper modules, which tfau/recipes/__init__.py imports;
# Python runs that __init__ before this module, so lookups never import the package (no cycle).
_REGISTRY: Dict[str, "Recipe"] = {}


@dataclasses.dataclass(frozen=True)
class Preset:
    """How large a run is. ``None`` fields fall back to the recipe / model defaults.

    Attributes:
      epochs, batch_size, image_size: training loop and input size (maps are image_size // 4).
      width: backbone width multiplier passed to ``build_model``.
      backbone: backbone name passed to ``build_model`` (None: the model's paper backbone).
      backbone_weights: ``"imagenet"``, a weights file, or None (random init).
      learning_rate: overrides the recipe's initial learning rate.
      max_train_examples, max_test_examples: truncate the splits (tiny runs).
      config_suffix: appended to the dataset config on ``synthetic_au`` (e.g. ``"_large"``).
      folds: the folds run when ``--fold`` is not given (``"1"`` or ``"all"``).
      dataset_folds: ``{"<dataset>/<protocol>": folds}`` overriding ``folds`` there (the paper
        preset's ``{"bp4d/bp4d_intensity": "fera"}``).
      model_options: extra keyword arguments for ``build_model``.
      cache: cache decoded examples in memory (small datasets only).
      optimizer: overrides the recipe's optimiser and schedule for this preset (SCC-Heatmap's
        two official configs differ in batch size and decay epochs).
    """

    epochs: int
    batch_size: int
    image_size: int
    width: float = 1.0
    backbone: Optional[str] = None
    backbone_weights: Optional[str] = None
    learning_rate: Optional[float] = None
    max_train_examples: Optional[int] = None
    max_test_examples: Optional[int] = None
    config_suffix: str = ""
    folds: str = "all"
    dataset_folds: Mapping[str, str] = dataclasses.field(default_factory=dict)
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cache: bool = False
    optimizer: Optional[OptimizerSpec] = None

    def folds_for(self, dataset: str, protocol: str) -> str:
        return self.dataset_folds.get(f"{dataset}/{protocol}", self.folds)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One method's training recipe.

    Attributes:
      method: model registry name (``tfau.models.build_model``) and run/export name.
      task: the paper's task (``"intensity"`` or ``"occurrence"``): picks the default config
        on the licensed datasets. The tasks the model can train on are the model's
        (``AUModel.supported_tasks``).
      configs: default dataset config per dataset name.
      optimizer: the paper's optimiser and LR schedule.
      presets: ``{"paper": Preset, "cpu": Preset, "tiny": Preset, ...}``.
      augment: training augmentation per dataset name (or protocol name); ``"default"`` for the
        rest (missing: no augmentation).
      heatmap_sigma: Gaussian sigma of the heatmap targets in map pixels (SCC-Heatmap, G2RL: 2).
      model_options: keyword arguments for ``build_model`` shared by every preset.
      early_stopping_patience: epochs without improvement of the monitored loss before stopping;
        None disables early stopping.
      oversample_aus: AU numbers whose positive training examples ``--oversample`` duplicates
        once (RE-Net Table 8's "DA": AU1, AU2, AU15, AU23, AU24); empty: no such ablation.
      paper: the paper's short citation (for ``--help``).
      description: one line for ``--help``.
    """

    method: str
    task: str
    configs: Mapping[str, str]
    optimizer: OptimizerSpec
    presets: Mapping[str, Preset]
    augment: Mapping[str, AugmentConfig] = dataclasses.field(default_factory=dict)
    heatmap_sigma: float = 2.0
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    early_stopping_patience: Optional[int] = None
    oversample_aus: Tuple[int, ...] = ()
    paper: str = ""
    description: str = ""

    def __post_init__(self):
        if self.task not in (aus_lib.INTENSITY, aus_lib.OCCURRENCE):
            raise ValueError(f"task must be intensity or occurrence, got {self.task!r}")
        for name in ("paper", "cpu"):
            if name not in self.presets:
                raise ValueError(f"recipe {self.method!r} needs a {name!r} preset")
        if not self.heatmap_sigma > 0:
            raise ValueError(f"heatmap_sigma must be > 0, got {self.heatmap_sigma}")

    def default_preset(self, dataset: str) -> str:
        """``cpu`` on an offline dataset (``tfau.data.DATASETS``), ``paper`` on licensed ones."""
        from tfau.data.loading import OFFLINE_DATASETS

        return "cpu" if dataset in OFFLINE_DATASETS else "paper"

    def default_config(self, dataset: str) -> str:
        if dataset in self.configs:
            return self.configs[dataset]
        # Licensed datasets default to the protocol of this task on that dataset.
        return f"{dataset}_{self.task}"

    def augmentation(self, dataset: str) -> AugmentConfig:
        """The paper's training augmentation on ``dataset`` (a dataset or protocol name)."""
        dataset = dataset.lower()
        for key in (dataset, dataset.split("_intensity")[0].split("_occurrence")[0]):
            if key in self.augment:
                return self.augment[key]
        return self.augment.get("default", AugmentConfig())

    def optimizer_for(self, preset: str) -> OptimizerSpec:
        """The optimiser of preset ``preset`` (its own, else the recipe's)."""
        return self.presets[preset].optimizer or self.optimizer

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.method in _REGISTRY and _REGISTRY[recipe.method] is not recipe:
        raise ValueError(f"recipe {recipe.method!r} registered twice")
    _REGISTRY[recipe.method] = recipe
    return recipe


def get_recipe(name) -> Recipe:
    """The registered recipe of method ``name`` (a ``Recipe`` is returned as it is)."""
    if isinstance(name, Recipe):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {recipe_names()}") from None


def recipe_names() -> Tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
