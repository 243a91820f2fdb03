"""Benchmark settings, and what the benchmarks ask the model registry and the recipes.

The benchmarks name no model: the models are the registry's (``tfau.models.model_names``), each
runs on BP4D's protocol of its recipe's task (``tfau.recipes``), its pipeline case is its
recipe's augmentation on that protocol with the targets the model declares
(``required_targets``), and the pairs the ratios time come from the model classes
(:func:`baseline_of`).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

# Reference row: keras.applications.ResNet50 (no top) + a GAP/Dense head for training.
REFERENCE = "keras_resnet50"
# Dataset whose protocols the models are benchmarked on (12 occurrence AUs, 5 intensity AUs).
DATASET = "bp4d"
PIPELINE_CONFIGS = ("disfa_intensity", "bp4d_intensity", "bp4d_occurrence", "disfa_occurrence")
HEAD_FILTERS = (256, 128, 64)  # deconv head channels at S/16, S/8, S/4 (tfau.backbones)
HRNET_X0_CHANNELS = 270  # HRNetV2-W18 concatenated S/4 features (18 + 36 + 72 + 144)


def model_names():
    from tfau.models import model_names as names

    return names()


def model_protocol(name, tiny=False):
    """BP4D's protocol of the task ``name``'s recipe trains (the registry's first supported task
    without a recipe). ``tiny``: intensity wherever the model supports it (5 AUs instead of 12:
    a per-AU model traces one pass per AU)."""
    from tfau import aus
    from tfau.models import model_class
    from tfau.recipes import get_recipe, recipe_names

    tasks = model_class(name).supported_tasks
    if tiny and aus.INTENSITY in tasks:
        return f"{DATASET}_{aus.INTENSITY}"
    task = get_recipe(name).task if name in recipe_names() else tasks[0]
    return f"{DATASET}_{task}"


def baseline_of(name):
    """``(key, registry name, options)`` of the model ``name`` is compared with, or None.

    A model class may declare ``benchmark_baseline``: another registry name, or a dict of
    constructor options giving a variant of the same model (e.g. a module switched off).
    Without it, the baseline is the nearest registered class the model extends (a model that
    adds a module to another is timed against it)."""
    from tfau.models import model_class

    cls = model_class(name)
    declared = getattr(cls, "benchmark_baseline", None)
    if isinstance(declared, dict):
        options = ", ".join(f"{k}={v}" for k, v in sorted(declared.items()))
        return f"{name}({options})", name, dict(declared)
    if isinstance(declared, str):
        model_class(declared)  # a clear error for a name the registry does not know
        return declared, declared, {}
    for base in cls.__mro__[1:]:
        base_name = vars(base).get("registry_name")  # set by register_model on the class itself
        if base_name and base_name != name:
            return base_name, base_name, {}
    return None


@dataclasses.dataclass
class Settings:
    mode: str = "full"
    image_size: int = 256
    batch: int = 8
    width: float = 1.0
    backbone: Optional[str] = None  # None: each model's paper backbone
    warmup: int = 2
    infer_iters: int = 10
    train_iters: int = 5
    matmul_sizes: tuple = (1024, 2048, 4096)
    matmul_runs: int = 5
    memory_sizes: tuple = (16, 32, 64)
    memory_batch: int = 2
    pipeline_batch: int = 64
    pipeline_batches: int = 30
    pipeline_warmup: int = 5
    pipeline_size: int = 256
    data_dir: Optional[str] = None
    jit: bool = False
    # Training-step ratio against a variant of the same model (options changed): the variant's
    # training graph is traced only for this ratio (an HRNet training graph, 64 k ops, costs
    # ~95 s of tracing + grappler), so --quick times only its inference ratio.
    variant_train_ratio: bool = True
    models: tuple = ()  # () = every registered model
    reference: bool = True
    protocols: dict = dataclasses.field(default_factory=dict)  # overrides of model_protocol

    def __post_init__(self):
        if not self.models:
            self.models = model_names()

    def protocol(self, name):
        return self.protocols.get(name) or model_protocol(name, tiny=self.mode == "tiny")

    @classmethod
    def preset(cls, mode):
        if mode == "full":
            return cls()
        if mode == "quick":
            return cls(
                mode="quick", image_size=256, batch=1, warmup=1, infer_iters=4, train_iters=3,
                matmul_sizes=(1024, 2048), matmul_runs=3, memory_sizes=(16, 32, 64), memory_batch=1,
                pipeline_batch=32, pipeline_batches=30, pipeline_warmup=3, variant_train_ratio=False,
            )
        if mode == "tiny":
            from tfau.models import TINY_CONFIG

            return cls(
                mode="tiny", image_size=TINY_CONFIG["image_size"], batch=2,
                width=TINY_CONFIG["width"], backbone=TINY_CONFIG["backbone"], warmup=1,
                infer_iters=1, train_iters=1, matmul_sizes=(256,), matmul_runs=1, memory_sizes=(4, 8),
                memory_batch=1, pipeline_batch=4, pipeline_batches=2, pipeline_warmup=1,
                pipeline_size=TINY_CONFIG["image_size"], reference=False,
            )
        raise ValueError(f"unknown mode {mode!r}")
