"""The train scripts' command line: flags -> ``RunSettings`` (everything a run resolved).

Every numeric flag is validated (a clear one-line error naming it); ``--model_option KEY=VALUE``
(repeatable) sets any constructor option of the method's model, typed by its default and
validated against the constructor's signature.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import sys
from typing import Any, Dict, Optional, Sequence

from tfau.recipes.base import Preset, Recipe

# Hyperparameters a resumed run must not change (``--allow_changed_hparams`` overrides).
HPARAMS = ("method", "dataset", "config", "protocol", "epochs", "batch_size", "image_size",
           "width", "backbone", "learning_rate", "max_train_examples", "model_options",
           "heatmap_sigma", "seed", "oversample_aus")


def _number(kind, low=None, allow_equal=False, what="> 0"):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: "
                                             f"{text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if low is not None and (value < low or (value == low and not allow_equal)):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


positive_int = _number(int, 0)
positive_float = _number(float, 0.0)
nonnegative_int = _number(int, 0, allow_equal=True, what=">= 0")


def _model_option_help(recipe: Recipe) -> str:
    from tfau.models import model_class

    defaults = model_class(recipe.method).option_defaults()
    return ", ".join(f"{k}={_show(v)}" for k, v in defaults.items())


def _show(v) -> str:
    return "none" if v is None else json.dumps(v) if isinstance(v, (list, tuple)) else str(v)


def build_parser(recipe: Recipe) -> argparse.ArgumentParser:
    from tfau import data as data_lib

    p = argparse.ArgumentParser(
        prog=f"train_scripts/{recipe.method}.py",
        description=recipe.description or f"Train {recipe.method} ({recipe.task}).",
        epilog="Presets: " + "; ".join(
            f"{k}: {v.epochs} epochs, batch {v.batch_size}, {v.image_size}px, "
            f"{v.backbone or 'paper backbone'} x{v.width}, folds {v.folds}"
            for k, v in sorted(recipe.presets.items())))
    p.add_argument("--dataset", default="synthetic_au", choices=tuple(data_lib.DATASETS),
                   help="synthetic_au is built offline automatically; the others need the "
                        "licensed data built with `tfds build datasets/<name> --manual_dir ...`")
    p.add_argument("--config", default=None,
                   help="dataset config (default per dataset: " +
                        ", ".join(f"{k}={v}" for k, v in recipe.configs.items()) + ")")
    p.add_argument("--fold", default=None,
                   help="1, 2, 3, all (3-fold protocol, averaged) or fera (BP4D intensity "
                        "train -> devel, the paper default there); default from the preset")
    p.add_argument("--data_dir", default=None,
                   help="TFDS data_dir (default: TFDS's, ~/tensorflow_datasets)")
    p.add_argument("--preset", default=None, choices=sorted(recipe.presets),
                   help="default: cpu on synthetic_au, paper otherwise")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch_size", type=positive_int, default=None, help="global batch size")
    p.add_argument("--learning_rate", type=positive_float, default=None)
    p.add_argument("--image_size", type=positive_int, default=None)
    p.add_argument("--width", type=positive_float, default=None, help="backbone width multiplier")
    p.add_argument("--backbone", default=None)
    p.add_argument("--backbone_weights", default=None,
                   help="imagenet, a weights file, or none (random init)")
    p.add_argument("--model_option", action="append", default=[], metavar="KEY=VALUE",
                   help="a constructor option of the model (repeatable; typed by its default; "
                        "lists/tuples as JSON or comma-separated). Keys and defaults: "
                        + _model_option_help(recipe))
    p.add_argument("--heatmap_sigma", type=positive_float, default=None,
                   help=f"Gaussian sigma of the heatmap targets in map pixels (recipe: "
                        f"{recipe.heatmap_sigma}; G2RL Fig. 6 varies it)")
    p.add_argument("--output_dir", default=None,
                   help="run folder (default runs/<method>/<timestamp>); rerun with the same "
                        "folder to resume an interrupted run")
    p.add_argument("--name", default=None, help="run name: runs/<method>/<name>")
    p.add_argument("--allow_changed_hparams", action="store_true",
                   help="resume a run folder even though hyperparameters differ from its run.json")
    p.add_argument("--export_dir", default="saved_models",
                   help="SavedModels go to <export_dir>/<method>_<dataset>_<config>[_foldK] "
                        "(default saved_models)")
    p.add_argument("--no_export", action="store_true")
    p.add_argument("--overwrite_export", action="store_true",
                   help="replace a SavedModel another run exported to the same folder (without "
                        "it such a run stops before training, naming the folder; a run's own "
                        "earlier export is always replaced)")
    p.add_argument("--jit", nargs="?", const="true", default="auto",
                   choices=("auto", "true", "false"),
                   help="XLA-compile the train / predict steps (auto: on for one-device runs, "
                        "CPU included; bare --jit = true)")
    p.add_argument("--precision", default="auto", metavar="{auto,float32,mixed_float16,...}",
                   choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                   help="auto: mixed_float16 on GPU, float32 on CPU")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="default 0")
    p.add_argument("--deterministic", default="auto", choices=("auto", "true", "false"),
                   help="deterministic TF ops (auto: on for CPU runs)")
    p.add_argument("--oversample", action="store_true",
                   help="duplicate once every training example positive for one of AUs "
                        + (", ".join(map(str, recipe.oversample_aus)) or "(none: this recipe "
                                                                           "has no such ablation)")
                        + " (class-imbalance duplication, e.g. RE-Net Table 8)")
    p.add_argument("--max_train_examples", type=positive_int, default=None)
    p.add_argument("--max_test_examples", type=positive_int, default=None)
    p.add_argument("--verbose", type=int, default=None, choices=(0, 1, 2),
                   help="Keras fit verbosity (default: a progress bar on a terminal, one line "
                        "per epoch when the output is redirected)")
    return p


def parse_model_options(method: str, items: Sequence[str]) -> Dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: typed v}``, checked against the model constructor."""
    from tfau.models import model_class

    defaults = model_class(method).option_defaults()
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise SystemExit(f"--model_option {item!r}: expected KEY=VALUE")
        if key not in defaults:
            raise SystemExit(f"--model_option {key}: {method} has no option {key!r}; "
                             f"available: {', '.join(defaults)}")
        try:
            out[key] = _typed(text.strip(), defaults[key])
        except ValueError as e:
            raise SystemExit(f"--model_option {key}={text}: {e}") from None
    return out


def _typed(text: str, default):
    if text.lower() in ("none", "null"):
        return None
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {text!r}")
        return value
    if isinstance(default, (list, tuple)):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = [_scalar(v) for v in text.split(",") if v.strip()]
        value = list(value) if isinstance(value, (list, tuple)) else [value]
        return type(default)(value)
    if isinstance(default, str):
        return text
    return _scalar(text)


def _scalar(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


@dataclasses.dataclass
class RunSettings:
    """Everything a run resolved from the recipe, the preset and the flags."""

    method: str
    task: str
    dataset: str
    config: str
    protocol: str
    folds: tuple
    preset: str
    epochs: int
    batch_size: int
    image_size: int
    width: float
    backbone: Optional[str]
    backbone_weights: Optional[str]
    learning_rate: float
    max_train_examples: Optional[int]
    max_test_examples: Optional[int]
    model_options: Dict[str, Any]
    heatmap_sigma: float
    seed: int
    deterministic: bool
    precision: str
    jit: bool
    cache: bool
    output_dir: str
    export_dir: Optional[str]
    data_dir: Optional[str]
    verbose: int
    allow_changed_hparams: bool = False
    overwrite_export: bool = False
    oversample_aus: tuple = ()


def _pick(flag, default):
    return default if flag is None else flag


def resolve(recipe: Recipe, args: argparse.Namespace) -> RunSettings:
    import tensorflow as tf

    from tfau import data as data_lib
    from tfau import folds as folds_lib
    from tfau.models import model_class
    from tfau.training import strategy as strategy_lib

    dataset = args.dataset
    preset_name = args.preset or recipe.default_preset(dataset)
    preset: Preset = recipe.presets[preset_name]
    config = args.config or recipe.default_config(dataset)
    if args.config is None and dataset in data_lib.OFFLINE_DATASETS:
        config += preset.config_suffix  # the preset's size of the offline dataset
    protocol = data_lib.protocol_of(data_lib.get_builder(dataset, config, args.data_dir))
    cls = model_class(recipe.method)
    if protocol.task not in cls.supported_tasks:
        raise SystemExit(f"{recipe.method} trains AU {'/'.join(cls.supported_tasks)}; config "
                         f"{config!r} is an {protocol.task} protocol")
    try:
        folds = folds_lib.fold_list(args.fold or preset.folds_for(dataset, protocol.name))
    except ValueError as e:
        raise SystemExit(str(e)) from None
    weights = _pick(args.backbone_weights, preset.backbone_weights)
    if weights is not None and str(weights).lower() in ("none", "random", ""):
        weights = None
    gpus = tf.config.list_physical_devices("GPU")
    deterministic = (not gpus) if args.deterministic == "auto" else args.deterministic == "true"
    if args.output_dir:
        output_dir = args.output_dir
    else:
        name = args.name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output_dir = os.path.join("runs", recipe.method, name)
    options = dict(recipe.model_options)
    options.update(preset.model_options)
    options.update(parse_model_options(recipe.method, args.model_option))
    return RunSettings(
        method=recipe.method, task=protocol.task, dataset=dataset, config=config,
        protocol=protocol.name, folds=folds, preset=preset_name,
        epochs=_pick(args.epochs, preset.epochs),
        batch_size=_pick(args.batch_size, preset.batch_size),
        image_size=_pick(args.image_size, preset.image_size),
        width=_pick(args.width, preset.width),
        backbone=args.backbone or preset.backbone,
        backbone_weights=weights,
        learning_rate=_pick(args.learning_rate,
                            preset.learning_rate or recipe.optimizer_for(preset_name).learning_rate),
        max_train_examples=_pick(args.max_train_examples, preset.max_train_examples),
        max_test_examples=_pick(args.max_test_examples, preset.max_test_examples),
        model_options=options, heatmap_sigma=_pick(args.heatmap_sigma, recipe.heatmap_sigma),
        seed=args.seed, deterministic=deterministic,
        precision=strategy_lib.resolve_precision(args.precision),
        jit=strategy_lib.resolve_jit(args.jit, deterministic),
        cache=preset.cache, output_dir=output_dir,
        export_dir=None if args.no_export else args.export_dir,
        data_dir=args.data_dir,
        # a progress bar on a terminal, one line per epoch when redirected to a file
        verbose=(1 if sys.stdout.isatty() else 2) if args.verbose is None else args.verbose,
        allow_changed_hparams=bool(args.allow_changed_hparams),
        overwrite_export=bool(args.overwrite_export),
        oversample_aus=_oversample(recipe, args),
    )


def _oversample(recipe: Recipe, args: argparse.Namespace) -> tuple:
    if not getattr(args, "oversample", False):
        return ()
    if not recipe.oversample_aus:
        raise SystemExit(f"--oversample: the {recipe.method} recipe names no AUs to oversample")
    return tuple(int(a) for a in recipe.oversample_aus)


def changed_hparams(previous: Dict[str, Any], s: RunSettings) -> Dict[str, tuple]:
    """``{name: (run.json value, this run's value)}`` of the hyperparameters that differ."""
    now = json.loads(json.dumps(dataclasses.asdict(s)))
    return {k: (previous.get(k), now.get(k)) for k in HPARAMS
            if k in previous and previous.get(k) != now.get(k)}
