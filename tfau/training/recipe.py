"""What a training script declares: a ``Recipe`` (the paper's method and hyperparameters) with
named ``Preset``s (how big a run is).

Presets:
  ``paper``  the paper's settings (full image size, ImageNet backbone, paper batch size/epochs);
             the default on the licensed datasets (disfa, bp4d, bp4d_plus).
  ``cpu``    a small configuration that trains to a useful model on the offline synthetic
             dataset in minutes on a laptop CPU; the default on ``synthetic_au``.
  ``tiny``   a smoke-test configuration for the test suite (a few dozen examples, 32-64 px).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Tuple

from tfau import aus as aus_lib
from tfau.training.optim import OptimizerSpec

DATASETS = ("synthetic_au", "disfa", "bp4d", "bp4d_plus")
REAL_DATASETS = ("disfa", "bp4d", "bp4d_plus")


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
      model_options: extra keyword arguments for ``build_model``.
      cache: cache decoded examples in memory (small datasets only).
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
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cache: bool = False


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One method's training recipe.

    Attributes:
      method: model registry name (``tfau.models.build_model``) and run/export name.
      task: ``"intensity"`` or ``"occurrence"``.
      configs: default dataset config per dataset name.
      optimizer: the paper's optimiser and LR schedule.
      presets: ``{"paper": Preset, "cpu": Preset, "tiny": Preset, ...}``.
      model_options: keyword arguments for ``build_model`` shared by every preset.
      early_stopping_patience: epochs without improvement of the monitored loss before stopping
        (RE-Net); None disables early stopping.
      label_graph: compute the AU correlation graph from the training labels and pass it to
        ``build_model(..., correlation=...)`` (RE-Net).
      any_task: the method trains on intensity and occurrence protocols alike (RE-Net).
      description: one line for ``--help``.
    """

    method: str
    task: str
    configs: Mapping[str, str]
    optimizer: OptimizerSpec
    presets: Mapping[str, Preset]
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    early_stopping_patience: Optional[int] = None
    label_graph: bool = False
    any_task: bool = False
    description: str = ""

    def __post_init__(self):
        if self.task not in (aus_lib.INTENSITY, aus_lib.OCCURRENCE):
            raise ValueError(f"task must be intensity or occurrence, got {self.task!r}")
        for name in ("paper", "cpu"):
            if name not in self.presets:
                raise ValueError(f"recipe {self.method!r} needs a {name!r} preset")

    def default_preset(self, dataset: str) -> str:
        return "cpu" if dataset == "synthetic_au" else "paper"

    def default_config(self, dataset: str) -> str:
        if dataset in self.configs:
            return self.configs[dataset]
        # Licensed datasets default to the protocol of this task on that dataset.
        return f"{dataset}_{self.task}"


def protocol_of_builder(builder) -> aus_lib.Protocol:
    """The protocol a TFDS builder's config declares (``config.get_protocol()`` or
    ``config.protocol``), else parsed from the config name."""
    config = builder.builder_config
    if hasattr(config, "get_protocol"):
        return config.get_protocol()
    proto = getattr(config, "protocol", None)
    if isinstance(proto, aus_lib.Protocol):
        return proto
    if isinstance(proto, str):
        return aus_lib.get_protocol(proto, getattr(config, "threshold", None))
    return protocol_for(builder.name, config.name)


def protocol_for(dataset: str, config: str) -> aus_lib.Protocol:
    """The AU protocol of a dataset config, from its name alone.

    Synthetic configs are named after the protocol they mirror (``disfa_intensity``, optionally
    ``_large``); licensed datasets use either the protocol name or the task (``intensity``).
    An ``_thrN`` suffix overrides DISFA's occurrence threshold (``disfa_occurrence_thr1``).
    """
    name = config
    threshold = None
    for suffix in ("_large", "_small", "_tiny"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if "_thr" in name:
        name, thr = name.rsplit("_thr", 1)
        threshold = float(thr)
    if name not in aus_lib.PROTOCOLS:
        candidate = f"{dataset}_{name}"
        if candidate in aus_lib.PROTOCOLS:
            name = candidate
        else:
            raise ValueError(f"cannot tell the AU protocol of {dataset}/{config}; known protocols: "
                             f"{sorted(aus_lib.PROTOCOLS)}")
    return aus_lib.get_protocol(name, threshold)


def fold_list(fold: str) -> Tuple[int, ...]:
    """``"1"`` -> (1,), ``"all"`` -> (1, 2, 3), ``"fera"`` -> (0,) (the builder's own
    train / devel splits: BP4D's FERA 2015 intensity protocol)."""
    fold = str(fold).strip().lower()
    if fold == "all":
        return (1, 2, 3)
    if fold in ("fera", "0"):
        return (0,)
    if fold in ("1", "2", "3"):
        return (int(fold),)
    raise ValueError(f"--fold must be 1, 2, 3, all or fera, got {fold!r}")
