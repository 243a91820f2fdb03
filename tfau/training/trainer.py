"""The one trainer behind every ``train_scripts/*.py``: ``main(recipe, argv)``.

A run: resolve dataset/config/preset -> build the dataset if missing -> for each fold: build the
model under the distribution strategy, ``fit`` with BackupAndRestore / ModelCheckpoint /
TensorBoard, evaluate on the held-out subjects, write the paper-style table (Markdown + JSON) and
export a SavedModel -> with ``--fold all`` average the three folds as the papers do.

Resuming: a run killed at any point resumes from its last finished epoch (``BackupAndRestore``:
weights, optimizer state, epoch) when started again with the same ``--output_dir`` (or
``--name``). The training batches of epoch k are a pure function of the seed and k (the resumed
run replays the finished epochs' reshuffles without computing them), so with
``--deterministic`` (on by default on CPU) the resumed run ends with exactly the weights and
metrics of an uninterrupted one. (With several replicas the resumed epochs get fresh reshuffles:
the run continues correctly, but not bit-identically.)
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from tfau.training import recipe as recipe_lib
from tfau.training.recipe import Preset, Recipe

RUN_FILE = "run.json"
RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
FINAL_WEIGHTS = "final.weights.h5"


# --------------------------------------------------------------------------------------------
# Command line


def build_parser(recipe: Recipe) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"train_scripts/{recipe.method}.py",
        description=recipe.description or f"Train {recipe.method} ({recipe.task}).",
        epilog="Presets: " + "; ".join(
            f"{k}: {v.epochs} epochs, batch {v.batch_size}, {v.image_size}px, "
            f"{v.backbone or 'paper backbone'} x{v.width}, folds {v.folds}"
            for k, v in sorted(recipe.presets.items())))
    p.add_argument("--dataset", default="synthetic_au", choices=recipe_lib.DATASETS,
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
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch_size", type=int, default=None, help="global batch size")
    p.add_argument("--learning_rate", type=float, default=None)
    p.add_argument("--image_size", type=int, default=None)
    p.add_argument("--width", type=float, default=None, help="backbone width multiplier")
    p.add_argument("--backbone", default=None)
    p.add_argument("--backbone_weights", default=None,
                   help="imagenet, a weights file, or none (random init)")
    p.add_argument("--output_dir", default=None,
                   help="run folder (default runs/<method>/<timestamp>); rerun with the same "
                        "folder to resume an interrupted run")
    p.add_argument("--name", default=None, help="run name: runs/<method>/<name>")
    p.add_argument("--export_dir", default="saved_models",
                   help="SavedModels go to <export_dir>/<method>_<dataset>_<config>[_foldK] "
                        "(default saved_models)")
    p.add_argument("--no_export", action="store_true")
    p.add_argument("--jit", nargs="?", const="true", default="auto",
                   choices=("auto", "true", "false"),
                   help="XLA-compile the train / predict steps (auto: on for one-device runs, "
                        "CPU included; bare --jit = true)")
    p.add_argument("--precision", default="auto", metavar="{auto,float32,mixed_float16,...}",
                   choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                   help="auto: mixed_float16 on GPU, float32 on CPU")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--deterministic", default="auto", choices=("auto", "true", "false"),
                   help="deterministic TF ops (auto: on for CPU runs)")
    p.add_argument("--max_train_examples", type=int, default=None)
    p.add_argument("--max_test_examples", type=int, default=None)
    p.add_argument("--verbose", type=int, default=None, choices=(0, 1, 2),
                   help="Keras fit verbosity (default: progress bar)")
    return p


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
    seed: int
    deterministic: bool
    precision: str
    jit: bool
    cache: bool
    output_dir: str
    export_dir: Optional[str]
    data_dir: Optional[str]
    verbose: int


def resolve(recipe: Recipe, args: argparse.Namespace) -> RunSettings:
    import tensorflow as tf

    from tfau.training import strategy as strategy_lib

    dataset = args.dataset
    preset_name = args.preset or recipe.default_preset(dataset)
    preset: Preset = recipe.presets[preset_name]
    config = args.config or recipe.default_config(dataset)
    if args.config is None and dataset == "synthetic_au":
        config += preset.config_suffix
    protocol = recipe_lib.protocol_of_builder(get_builder(dataset, config, args.data_dir))
    if protocol.task != recipe.task and not recipe.any_task:
        raise SystemExit(f"{recipe.method} is an AU {recipe.task} method; config {config!r} is "
                         f"an {protocol.task} protocol")
    default_folds = preset.folds
    if dataset == "bp4d" and protocol.name == "bp4d_intensity" and preset_name == "paper":
        default_folds = "fera"  # SCC-Heatmap / G2RL: FERA 2015 train -> devel
    folds = recipe_lib.fold_list(args.fold or default_folds)
    weights = args.backbone_weights if args.backbone_weights is not None else preset.backbone_weights
    if weights is not None and str(weights).lower() in ("none", "random", ""):
        weights = None
    det = args.deterministic
    gpus = tf.config.list_physical_devices("GPU")
    deterministic = (not gpus) if det == "auto" else det == "true"
    jit = strategy_lib.resolve_jit(args.jit, deterministic)
    if args.output_dir:
        output_dir = args.output_dir
    else:
        name = args.name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output_dir = os.path.join("runs", recipe.method, name)
    options = dict(recipe.model_options)
    options.update(preset.model_options)
    return RunSettings(
        method=recipe.method, task=protocol.task, dataset=dataset, config=config,
        protocol=protocol.name, folds=folds, preset=preset_name,
        epochs=args.epochs or preset.epochs,
        batch_size=args.batch_size or preset.batch_size,
        image_size=args.image_size or preset.image_size,
        width=args.width if args.width is not None else preset.width,
        backbone=args.backbone or preset.backbone,
        backbone_weights=weights,
        learning_rate=(args.learning_rate or preset.learning_rate
                       or recipe.optimizer.learning_rate),
        max_train_examples=args.max_train_examples or preset.max_train_examples,
        max_test_examples=args.max_test_examples or preset.max_test_examples,
        model_options=options, seed=args.seed, deterministic=deterministic,
        precision=strategy_lib.resolve_precision(args.precision), jit=jit,
        cache=preset.cache, output_dir=output_dir,
        export_dir=None if args.no_export else args.export_dir,
        data_dir=args.data_dir,
        verbose=1 if args.verbose is None else args.verbose,
    )


# --------------------------------------------------------------------------------------------
# Data


def ensure_dataset(dataset: str, config: str, data_dir: Optional[str]) -> None:
    """Builds ``dataset/config`` into ``data_dir`` when it is not there yet.

    The synthetic dataset is rendered offline; the licensed ones must be built by the user from
    their copy (the error says how).
    """
    from tfau.data import loading

    builder = get_builder(dataset, config, data_dir)
    if _is_prepared(builder):
        return
    if dataset not in loading.OFFLINE_DATASETS:
        raise SystemExit(
            f"{dataset}/{config} is not built in {builder.data_dir!r}. It is licensed data: "
            f"build it first with `tfds build datasets/{dataset} --config {config} "
            f"--manual_dir <your copy> --data_dir <dir>` and pass --data_dir <dir>.")
    print(f"[tfau] building {dataset}/{config} into {builder.data_dir} (first run only)...",
          flush=True)
    t0 = time.time()
    loading.prepare(builder, dataset)
    print(f"[tfau] dataset built in {time.time() - t0:.0f}s", flush=True)


def get_builder(dataset: str, config: str, data_dir: Optional[str]):
    """The TFDS builder of ``dataset/config`` (registered from ``tfau_datasets``)."""
    from tfau import data as data_lib

    if hasattr(data_lib, "get_builder"):
        return data_lib.get_builder(dataset, config, data_dir)
    return _tfds_builder(dataset, config, data_dir)


def _tfds_builder(dataset: str, config: str, data_dir: Optional[str]):
    import importlib

    import tensorflow_datasets as tfds

    # TFDS registers a builder class when its module is imported.
    importlib.import_module(f"tfau_datasets.{dataset}.{dataset}_dataset_builder")
    return tfds.builder(f"{dataset}/{config}", data_dir=data_dir)


def _is_prepared(builder) -> bool:
    import tensorflow as tf
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def _fold_splits(builder, fold: int):
    from tfau_datasets.common import FOLD_SPLITS, train_test_splits

    names = set(builder.info.splits.keys())
    if fold and set(FOLD_SPLITS) <= names:
        return train_test_splits(fold), True
    for test in ("devel", "test", "validation"):
        if "train" in names and test in names:
            return ("train", test), False
    raise ValueError(f"{builder.name}/{builder.builder_config.name} has splits {sorted(names)}: "
                     "neither fold1-3 nor train/test")


def scan_labels(s: "RunSettings", split: str):
    """Labels, masks and subjects of a split, read without decoding the images."""
    import tensorflow as tf

    from tfau import data as data_lib

    ds = data_lib.load_split(s.dataset, s.config, split, s.data_dir, decode_image=False)
    ds = ds.map(lambda ex: (ex["labels"], ex["label_mask"], ex["subject"]),
                num_parallel_calls=tf.data.AUTOTUNE)
    labels, masks, subjects = [], [], []
    for lab, mask, subj in ds.batch(4096).as_numpy_iterator():
        labels.append(lab)
        masks.append(mask)
        subjects.append(subj)
    if not labels:
        raise ValueError(f"split {split!r} of {s.dataset}/{s.config} is empty")
    return (np.concatenate(labels).astype(np.float32), np.concatenate(masks).astype(np.float32),
            np.concatenate(subjects))


def validation_subjects(subjects: np.ndarray, every: int = 5) -> List[bytes]:
    """Every ``every``-th training subject (sorted) is held out for early stopping; none when
    fewer than 3 subjects."""
    uniq = sorted(set(subjects.tolist()))
    if len(uniq) < 3:
        return []
    return uniq[every // 2::every] or uniq[:1]


def _filter_subjects(ds, subjects: Sequence[bytes], keep: bool):
    import tensorflow as tf

    table = tf.constant(list(subjects), dtype=tf.string)

    def pred(ex):
        hit = tf.reduce_any(tf.equal(ex["subject"], table))
        return hit if keep else tf.logical_not(hit)

    return ds.filter(pred)


# --------------------------------------------------------------------------------------------
# Model


def dummy_features(image_size: int, batch: int = 1) -> Dict[str, Any]:
    import tensorflow as tf

    return {
        "image": tf.zeros([batch, image_size, image_size, 3], tf.float32),
        "landmarks": tf.zeros([batch, 68, 2], tf.float32),
        "au_index": tf.constant(0, tf.int32),
    }


def build_from_run(run: Dict[str, Any]):
    """Rebuilds the (unbuilt-weights) model a run trained, from its ``run.json`` content."""
    from tfau import aus as aus_lib
    from tfau.models import build_model

    protocol = aus_lib.get_protocol(run["protocol"], run.get("threshold"))
    kwargs = dict(run.get("model_options", {}))
    if run.get("correlation") is not None:
        kwargs["correlation"] = np.asarray(run["correlation"], np.float32)
    if run.get("backbone"):
        kwargs["backbone"] = run["backbone"]
    model = build_model(run["method"], protocol, image_size=run["image_size"],
                        width=run["width"], backbone_weights=run.get("backbone_weights_used"),
                        **kwargs)
    model(dummy_features(run["image_size"]), training=False)
    return model


# --------------------------------------------------------------------------------------------
# One fold


def _initial_epoch(backup_dir: str) -> int:
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def _prebuild_for_replicas(model, strategy, ds) -> None:
    """Builds the optimizer and metrics from a local batch before ``fit``.

    Keras 3.15's ``fit`` builds them from a first distributed batch, which fails on dict
    features under multi-replica strategies ("Attempt to convert a value ({'image': PerReplica
    ...}) ... to a Tensor"); building here and skipping that step avoids it.
    """
    batch = next(iter(ds))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)  # noqa: SLF001 - see docstring
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None  # noqa: SLF001


def _vector_logs(model) -> None:
    """Makes train/test steps return ``[1]``-shaped logs under MultiWorkerMirroredStrategy.

    Keras 3 reduces multi-worker step logs with ``strategy.reduce("MEAN", v, axis=0)``, which
    fails on scalar logs ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388); a ``[1]`` vector reduces to the same mean.
    """
    import tensorflow as tf

    def wrap(step):
        def vector_step(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}
        return vector_step

    model.train_step = wrap(model.train_step)
    model.test_step = wrap(model.test_step)


def _data_sharded(ds):
    """Shard by element between workers (file sharding would give workers uneven step counts:
    a split may have fewer files than there are workers)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def run_fold(recipe: Recipe, s: RunSettings, strategy, fold: int, run_dir: str,
             callbacks: Sequence[Any] = ()) -> Dict[str, Any]:
    import keras
    import tensorflow as tf

    from tfau import data as data_lib
    from tfau import metrics as metrics_lib
    from tfau.models import build_model
    from tfau.training import strategy as strategy_lib

    chief = strategy_lib.is_chief()
    builder = get_builder(s.dataset, s.config, s.data_dir)
    protocol = recipe_lib.protocol_of_builder(builder)
    (train_split, test_split), has_folds = _fold_splits(builder, fold)
    os.makedirs(run_dir, exist_ok=True)
    t_start = time.time()

    # ---- labels pass: example count, validation subjects, RE-Net's correlation graph
    labels, masks, subjects = scan_labels(s, train_split)
    val_subjects = validation_subjects(subjects) if recipe.early_stopping_patience else []
    keep = ~np.isin(subjects, val_subjects) if val_subjects else np.ones(len(subjects), bool)
    n_train = int(keep.sum())
    if s.max_train_examples:
        n_train = min(n_train, s.max_train_examples)
    correlation = None
    if recipe.label_graph:
        from tfau.layers.graph_batch_norm import pearson_correlation

        correlation = np.asarray(pearson_correlation(labels[keep], masks[keep]), np.float32)

    augment = data_lib.AugmentConfig.for_method(s.method, s.dataset)
    seed = s.seed * 1000 + fold

    with strategy.scope():
        kwargs = dict(s.model_options)
        if correlation is not None:
            kwargs["correlation"] = correlation
        if s.backbone:
            kwargs["backbone"] = s.backbone
        model = build_model(s.method, protocol, image_size=s.image_size, width=s.width,
                            backbone_weights=s.backbone_weights, **kwargs)
        model(dummy_features(s.image_size), training=False)
        steps = max(1, n_train // s.batch_size)
        optimizer = recipe.optimizer.build(s.epochs, steps, s.learning_rate)
        model.compile(optimizer=optimizer, jit_compile=s.jit)

    targets = tuple(getattr(model, "required_targets", ("labels", "label_mask")))
    sample_au = "au_index" in tuple(getattr(model, "required_features", ()))

    def pipeline(split, training, subjects_filter=None, keep_subjects=False, limit=None,
                 batch_size=s.batch_size, targets=targets):
        ds = data_lib.load_split(s.dataset, s.config, split, s.data_dir)
        if subjects_filter:
            ds = _filter_subjects(ds, subjects_filter, keep=keep_subjects)
        if limit:
            ds = ds.take(limit)
        return data_lib.make_pipeline(
            ds, protocol, s.image_size, targets=targets, batch_size=batch_size,
            training=training, augment=augment,
            sample_au=sample_au and training, seed=seed, deterministic=s.deterministic,
            cache=s.cache)

    train = pipeline(train_split, True, val_subjects, False, s.max_train_examples)
    if int(train.cardinality()) > 0:
        steps = int(train.cardinality())
    # Resuming. The pipeline reshuffles (and redraws its augmentation seeds) each time an
    # iterator is made over it, and Keras makes one per epoch (plus one to build the model), so
    # a resumed run first makes - and drops - one iterator per finished epoch: the epochs it
    # trains then see exactly the batches of an uninterrupted run.
    backup_dir = (os.path.join(run_dir, "backup") if chief else
                  os.path.join(tempfile.gettempdir(), f"tfau_backup_{os.getpid()}"))
    initial_epoch = _initial_epoch(backup_dir)
    train = _data_sharded(train)
    if strategy.num_replicas_in_sync > 1:
        _prebuild_for_replicas(model, strategy, train)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _vector_logs(model)
    if strategy.num_replicas_in_sync == 1:
        # Keras accepts a pre-distributed dataset only with one replica; then the replayed
        # iterators and Keras's are made over the same object.
        train = strategy.experimental_distribute_dataset(train)
    if initial_epoch:
        print(f"[tfau] resuming fold {fold} after epoch {initial_epoch}", flush=True)
        if strategy.num_replicas_in_sync == 1:
            for _ in range(min(initial_epoch, s.epochs)):
                next(iter(train))
    val = (_data_sharded(pipeline(train_split, False, val_subjects, True, None))
           if val_subjects else None)

    side_dir = run_dir if chief else tempfile.mkdtemp(prefix="tfau_worker_")
    cbs: List[Any] = [
        keras.callbacks.BackupAndRestore(backup_dir),
        keras.callbacks.ModelCheckpoint(
            os.path.join(side_dir, "checkpoints", "last.weights.h5"), save_weights_only=True),
        keras.callbacks.CSVLogger(os.path.join(side_dir, "history.csv"), append=True),
    ]
    if _has_tensorboard():
        cbs.append(keras.callbacks.TensorBoard(os.path.join(side_dir, "logs"), profile_batch=0))
    elif chief:
        print("[tfau] TensorBoard logs off: `pip install tensorboard` to get them", flush=True)
    if recipe.early_stopping_patience:
        monitor = "val_loss" if val is not None else "loss"
        cbs.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=recipe.early_stopping_patience, restore_best_weights=True))
        if val is not None:
            cbs.append(keras.callbacks.ModelCheckpoint(
                os.path.join(side_dir, "checkpoints", "best.weights.h5"), monitor=monitor,
                save_best_only=True, save_weights_only=True))
    cbs.extend(callbacks)

    run_info = {
        **dataclasses.asdict(s), "fold": fold if has_folds else None, "folds": list(s.folds),
        "train_split": train_split, "test_split": test_split, "n_train": n_train,
        "steps_per_epoch": steps, "threshold": protocol.threshold,
        "validation_subjects": [v.decode() if isinstance(v, bytes) else v for v in val_subjects],
        "correlation": None if correlation is None else correlation.tolist(),
        "backbone_weights_used": None,  # weights are in the checkpoints; no re-download
        "lr_boundaries_epochs": list(recipe.optimizer.boundary_epochs(s.epochs)),
        "strategy": strategy_lib.describe(strategy),
    }
    if chief:
        with open(os.path.join(run_dir, RUN_FILE), "w") as f:
            json.dump(run_info, f, indent=1)

    print(f"[tfau] {s.method} on {s.dataset}/{s.config} fold {fold}: {n_train} training examples "
          f"({train_split}), {steps} steps x {s.epochs} epochs, batch {s.batch_size}, "
          f"{s.image_size}px, {strategy_lib.describe(strategy)}, {s.precision}", flush=True)
    t_fit = time.time()
    model.fit(train, epochs=s.epochs, steps_per_epoch=steps, validation_data=val, shuffle=False,
              callbacks=cbs, verbose=s.verbose)
    fit_s = time.time() - t_fit
    if chief:
        model.save_weights(os.path.join(run_dir, FINAL_WEIGHTS), overwrite=True)

    # ---- held-out evaluation
    t_eval = time.time()
    test = pipeline(test_split, False, limit=s.max_test_examples,
                    batch_size=max(s.batch_size, 32), targets=("labels", "label_mask"))
    y_true, y_mask, y_pred = predict_dataset(model.serving_model(), test)
    results = metrics_lib.evaluate(y_true, y_pred, y_mask, protocol)
    eval_s = time.time() - t_eval
    title = (f"{s.method} on {s.dataset}/{s.config}, "
             + (f"fold {fold} (test {test_split})" if has_folds else f"test split {test_split}")
             + f", {len(y_true)} held-out frames")
    out = {"title": title, "fold": fold if has_folds else None, "results": results,
           "n_test": int(len(y_true)), "fit_seconds": round(fit_s, 1),
           "eval_seconds": round(eval_s, 1), "seconds": round(time.time() - t_start, 1)}

    if chief:
        table = metrics_lib.render_table(results, protocol)
        write_results(run_dir, title, table, results, protocol, extra=out)
        print("\n" + title + "\n" + table + "\n", flush=True)
        if s.export_dir:
            from tfau import export as export_lib

            name = f"{s.method}_{s.dataset}_{s.config}" + (f"_fold{fold}" if has_folds else "")
            path = os.path.join(s.export_dir, name)
            serving = model
            if s.precision != "float32":
                # Export a float32 copy: CPUs serve float16 slowly (or not at all).
                keras.mixed_precision.set_global_policy("float32")
                serving = build_from_run(run_info)
                serving.set_weights(model.get_weights())
                keras.mixed_precision.set_global_policy(s.precision)
            export_lib.export_saved_model(
                serving, path, protocol=protocol, image_size=s.image_size, method=s.method,
                extra_metadata={"dataset": s.dataset, "config": s.config,
                                "fold": fold if has_folds else 0, "run_dir": run_dir})
            out["saved_model"] = path
            print(f"[tfau] SavedModel: {path}", flush=True)
    return out


def predict_dataset(serving, ds):
    """(labels, masks, predicted au) over a pipeline of (features, targets) batches."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(images):
        return serving(images, training=False)["au"]

    ys, ms, ps = [], [], []
    for features, targets in ds:
        ps.append(np.asarray(step(features["image"]), np.float32))
        ys.append(targets["labels"].numpy())
        ms.append(targets["label_mask"].numpy())
    return np.concatenate(ys), np.concatenate(ms), np.concatenate(ps)


# --------------------------------------------------------------------------------------------
# Results


def write_results(run_dir: str, title: str, table: str, results, protocol, extra=None) -> None:
    from tfau import metrics as metrics_lib

    with open(os.path.join(run_dir, RESULTS_MD), "w") as f:
        f.write(f"# {title}\n\n{table}\n")
    payload = metrics_lib.results_to_json(results)
    if isinstance(payload, str):
        payload = json.loads(payload)
    doc = {"title": title, "protocol": protocol.name, "results": payload}
    if extra:
        doc.update({k: v for k, v in extra.items() if k not in ("results", "title")})
    with open(os.path.join(run_dir, RESULTS_JSON), "w") as f:
        json.dump(doc, f, indent=1)


def average_results(per_fold: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean over folds of every per-AU metric, as the papers report their 3-fold protocols.

    Each AU's value is the mean of its fold values (folds where it is undefined are skipped);
    ``avg`` is the mean of those per-AU means. Frame counts are summed.
    """
    import math

    first = per_fold[0]
    names = list(first["aus"])
    out = {k: v for k, v in first.items() if not isinstance(v, dict)}
    out["n_frames"] = int(sum(r["n_frames"] for r in per_fold))
    out["n_folds"] = len(per_fold)
    out["n_labelled"] = {n: int(sum(r["n_labelled"][n] for r in per_fold)) for n in names}
    for key, value in first.items():
        if not isinstance(value, dict) or key == "n_labelled":
            continue
        entry = {}
        for n in names:
            vals = [_num(r[key].get(n)) for r in per_fold]
            vals = [v for v in vals if not math.isnan(v)]
            entry[n] = float(np.mean(vals)) if vals else math.nan
        per_au = [v for v in entry.values() if not math.isnan(v)]
        entry["avg"] = float(np.mean(per_au)) if per_au else math.nan
        entry["per_fold_avg"] = [_num(r[key].get("avg")) for r in per_fold]
        out[key] = entry
    return out


def _num(v) -> float:
    return float("nan") if v is None else float(v)


# --------------------------------------------------------------------------------------------
# Entry point


def main(recipe: Recipe, argv: Optional[Sequence[str]] = None,
         callbacks: Sequence[Any] = ()) -> Dict[str, Any]:
    """Runs a recipe from the command line; returns the (fold-averaged) results summary."""
    args = build_parser(recipe).parse_args(argv)
    t0 = time.time()
    from tfau.data.pipeline import tune_malloc

    tune_malloc()  # before TensorFlow's threads start allocating
    from tfau.training import strategy as strategy_lib

    # The strategy must exist before any other TensorFlow op (MultiWorkerMirroredStrategy).
    strategy = strategy_lib.make_strategy()
    s = resolve(recipe, args)
    strategy_lib.set_precision(s.precision)
    strategy_lib.set_determinism(s.seed, s.deterministic, xla=s.jit)
    chief = strategy_lib.is_chief()

    if chief:
        ensure_dataset(s.dataset, s.config, s.data_dir)
    else:
        _wait_for_dataset(s)
    fold_out = []
    for fold in s.folds:
        fold_dir = s.output_dir if len(s.folds) == 1 else os.path.join(s.output_dir, f"fold{fold}")
        done = os.path.join(fold_dir, RESULTS_JSON)
        if len(s.folds) > 1 and os.path.exists(done) and chief:
            print(f"[tfau] fold {fold} already finished in {fold_dir}", flush=True)
            fold_out.append(_load_fold(done, s))
            continue
        fold_out.append(run_fold(recipe, s, strategy, fold, fold_dir, callbacks))

    summary: Dict[str, Any] = {"output_dir": s.output_dir, "folds": fold_out,
                               "seconds": round(time.time() - t0, 1)}
    if len(fold_out) > 1 and chief:
        from tfau import metrics as metrics_lib

        protocol = recipe_lib.protocol_of_builder(get_builder(s.dataset, s.config, s.data_dir))
        mean = average_results([f["results"] for f in fold_out])
        title = (f"{s.method} on {s.dataset}/{s.config}, mean of folds "
                 f"{', '.join(str(f['fold']) for f in fold_out)}")
        table = metrics_lib.render_table(mean, protocol)
        write_results(s.output_dir, title, table, mean, protocol,
                      extra={"per_fold": [f["title"] for f in fold_out]})
        print("\n" + title + "\n" + table + "\n", flush=True)
        summary["results"] = mean
    else:
        summary["results"] = fold_out[0]["results"]
    print(f"[tfau] done in {time.time() - t0:.0f}s; run folder {s.output_dir}", flush=True)
    return summary


def _load_fold(path: str, s: RunSettings) -> Dict[str, Any]:
    with open(path) as f:
        doc = json.load(f)
    results = _nan_from_json(doc["results"])
    return {"title": doc["title"], "fold": doc.get("fold"), "results": results}


def _nan_from_json(obj):
    if isinstance(obj, dict):
        return {k: _nan_from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_from_json(v) for v in obj]
    return float("nan") if obj is None else obj


def _wait_for_dataset(s: RunSettings, timeout: float = 3600.0) -> None:
    """Non-chief workers wait for the chief to build the dataset."""
    deadline = time.time() + timeout
    while True:
        try:
            builder = get_builder(s.dataset, s.config, s.data_dir)
            if _is_prepared(builder):
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        if time.time() > deadline:
            raise SystemExit("timed out waiting for the chief to build the dataset")
        time.sleep(2.0)


def run_script(recipe: Recipe) -> None:
    """``if __name__ == "__main__": run_script(RECIPE)`` in train_scripts."""
    main(recipe, sys.argv[1:])
