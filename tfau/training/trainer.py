"""The one trainer behind every ``train_scripts/*.py`` and ``python -m tfau.train``.

  main(recipe, argv)                  command line -> fold-averaged results summary
  run(recipe, **flags)                the same from Python (``tfau reproduce`` trains one
                                      row/fold/seed with it and reads ``summary["results"]``)

A run: resolve dataset/config/preset (``tfau.training.flags``) -> build the dataset if missing ->
for each fold (``run_fold``): scan the training labels, build and compile the model, make the
pipelines, ``fit`` with BackupAndRestore / ModelCheckpoint / TensorBoard, evaluate on the
held-out subjects, write the paper-style table and export a SavedModel -> with ``--fold all``
average the three folds as the papers do. The run folder's format is ``tfau.runs``.

Resuming: a run killed at any point resumes from its last finished epoch (``BackupAndRestore``:
weights, optimizer state, epoch) when started again with the same ``--output_dir`` (or
``--name``). The training batches of epoch k are a pure function of the seed and k (the resumed
run replays the finished epochs' reshuffles without computing them), so with
``--deterministic`` (on by default on CPU) the resumed run ends with exactly the weights and
metrics of an uninterrupted one. (With several replicas the resumed epochs get fresh reshuffles:
the run continues correctly, but not bit-identically.) A resumed run whose hyperparameters
differ from its ``run.json`` is refused unless ``--allow_changed_hparams``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from tfau import runs as runs_lib
from tfau.recipes.base import Recipe, get_recipe
from tfau.training import exporting
from tfau.training.flags import RunSettings, build_parser, changed_hparams, resolve


@dataclasses.dataclass
class FoldData:
    """What the labels pass of one fold found."""

    protocol: Any
    train_split: str
    test_split: str
    has_folds: bool
    n_train: int
    val_subjects: List[bytes]
    derived_options: Dict[str, Any]
    oversample_columns: List[int] = dataclasses.field(default_factory=list)


def scan_fold(recipe: Recipe, s: RunSettings, fold: int) -> FoldData:
    """Splits, example count, validation subjects and the label-derived model options."""
    from tfau import data as data_lib
    from tfau.data import augment as augment_lib
    from tfau.models import model_class

    builder = data_lib.get_builder(s.dataset, s.config, s.data_dir)
    protocol = data_lib.protocol_of(builder)
    (train_split, test_split), has_folds = data_lib.fold_splits(builder, fold)
    labels, masks, subjects = data_lib.scan_labels(s.dataset, s.config, train_split, s.data_dir)
    val = data_lib.validation_subjects(subjects) if recipe.early_stopping_patience else []
    keep = ~np.isin(subjects, val) if val else np.ones(len(subjects), bool)
    n_train = int(keep.sum())
    if s.max_train_examples:
        n_train = min(n_train, s.max_train_examples)
    cols = augment_lib.oversample_columns(protocol.aus, s.oversample_aus)  # --oversample
    n_train = augment_lib.oversampled_size(labels[keep][:n_train], masks[keep][:n_train], cols)
    derived = model_class(s.method).options_from_labels(labels[keep], masks[keep],
                                                       dict(s.model_options))
    return FoldData(protocol, train_split, test_split, has_folds, n_train, val, derived, cols)


def build_and_compile(recipe: Recipe, s: RunSettings, strategy, fd: FoldData):
    """The model (built, compiled with the recipe's optimiser) and its steps per epoch."""
    from tfau.models import build_model

    steps = max(1, fd.n_train // s.batch_size)
    with strategy.scope():
        kwargs = {**s.model_options, **fd.derived_options}
        if s.backbone:
            kwargs["backbone"] = s.backbone
        model = build_model(s.method, fd.protocol, image_size=s.image_size, width=s.width,
                            backbone_weights=s.backbone_weights, **kwargs)
        model(runs_lib.dummy_features(s.image_size), training=False)
        optimizer = recipe.optimizer_for(s.preset).build(s.epochs, steps, s.learning_rate)
        model.compile(optimizer=optimizer, jit_compile=s.jit)
    return model, steps


def make_pipelines(recipe: Recipe, s: RunSettings, model, fd: FoldData, fold: int, steps: int):
    """``(train, val, test_fn)``: the training pipeline (exactly ``steps`` batches an epoch),
    the early-stopping pipeline (or None) and a function making the held-out pipeline."""
    import tensorflow as tf

    from tfau import data as data_lib
    from tfau.data import augment as augment_lib

    augment = recipe.augmentation(s.dataset)
    asks = data_lib.model_pipeline_kwargs(model)  # + map_stride, heatmap_scale
    targets, sample_au = asks.pop("targets"), asks.pop("sample_au")
    seed = s.seed * 1000 + fold

    def pipeline(split, training, subjects=None, keep=False, limit=None,
                 batch_size=s.batch_size, targets=targets):
        ds = data_lib.load_split(s.dataset, s.config, split, s.data_dir)
        if subjects:
            ds = data_lib.filter_subjects(ds, subjects, keep=keep)
        if limit:
            ds = ds.take(limit)
        if training:
            ds = augment_lib.oversample_positives(ds, fd.oversample_columns)
        return data_lib.make_pipeline(
            ds, fd.protocol, s.image_size, targets=targets, batch_size=batch_size,
            training=training, augment=augment, sample_au=sample_au if training else False, seed=seed,
            deterministic=s.deterministic, cache=s.cache, heatmap_sigma=s.heatmap_sigma, **asks)

    train = pipeline(fd.train_split, True, fd.val_subjects, False, s.max_train_examples)
    if int(train.cardinality()) < 0:
        # A subject filter hides the length; Keras would then run out of data every other
        # epoch (``steps_per_epoch`` batches, then an exhausted iterator). The labels pass
        # counted the examples, so the length is known exactly.
        train = train.apply(tf.data.experimental.assert_cardinality(steps))
    val = (pipeline(fd.train_split, False, fd.val_subjects, True) if fd.val_subjects else None)

    def test():
        return pipeline(fd.test_split, False, limit=s.max_test_examples,
                        batch_size=max(s.batch_size, 32), targets=("labels", "label_mask"))
    return train, val, test


def distribute_and_replay(model, strategy, train, s: RunSettings, initial_epoch: int, fold: int):
    """Prepares ``train`` for the strategy and replays the finished epochs' iterators.

    The pipeline reshuffles (and redraws its augmentation seeds) each time an iterator is made
    over it, and Keras makes one per epoch, so a resumed run first makes - and drops - one
    iterator per finished epoch: the epochs it trains then see exactly the batches of an
    uninterrupted run.
    """
    import tensorflow as tf

    from tfau.training import strategy as strategy_lib

    train = strategy_lib.data_sharded(train)
    if strategy.num_replicas_in_sync > 1:
        strategy_lib.prebuild_for_replicas(model, strategy, train)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        strategy_lib.vector_logs(model)
    if strategy.num_replicas_in_sync == 1:
        # Keras accepts a pre-distributed dataset only with one replica; then the replayed
        # iterators and Keras's are made over the same object.
        train = strategy.experimental_distribute_dataset(train)
    if initial_epoch:
        print(f"[tfau] resuming fold {fold} after epoch {initial_epoch}", flush=True)
        if strategy.num_replicas_in_sync == 1:
            for _ in range(min(initial_epoch, s.epochs)):
                next(iter(train))
    return train


def run_info_of(recipe: Recipe, s: RunSettings, strategy, fold: int, fd: FoldData,
                steps: int) -> Dict[str, Any]:
    from tfau.training import strategy as strategy_lib

    derived = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
               for k, v in fd.derived_options.items()}
    return {
        **dataclasses.asdict(s), "fold": fold if fd.has_folds else None, "folds": list(s.folds),
        "train_split": fd.train_split, "test_split": fd.test_split, "n_train": fd.n_train,
        "steps_per_epoch": steps, "threshold": fd.protocol.threshold,
        "validation_subjects": [v.decode() if isinstance(v, bytes) else v
                                for v in fd.val_subjects],
        "derived_options": derived,
        "backbone_weights_used": None,  # weights are in the checkpoints; no re-download
        "lr_boundaries_epochs": list(recipe.optimizer_for(s.preset).boundary_epochs(s.epochs)),
        "strategy": strategy_lib.describe(strategy),
    }


def check_resume(run_dir: str, s: RunSettings) -> None:
    """Refuses to resume a run folder with other hyperparameters (unless allowed)."""
    path = os.path.join(run_dir, runs_lib.RUN_FILE)
    if not os.path.exists(path) or s.allow_changed_hparams:
        return
    diff = changed_hparams(runs_lib.read_run(run_dir), s)
    if diff:
        raise SystemExit(
            f"{run_dir} holds a run with other hyperparameters ("
            + "; ".join(f"{k}: {a!r} there, {b!r} now" for k, a, b in
                        ((k, *v) for k, v in sorted(diff.items())))
            + "). Use another --output_dir, or --allow_changed_hparams to resume anyway.")


def evaluation_predictor(model):
    """``(feature keys, predict(features) -> [B, V * A], names)`` for the held-out evaluation.

    A model may declare ``evaluation_features`` and ``evaluation_outputs(features) -> {name:
    au [B, A]}`` (several decodings, the first one the reported result: e.g. per-face windows
    built from ``landmarks`` next to the serving decoder's); otherwise its serving model's
    ``au`` is evaluated (name ``"serving"``).
    """
    import tensorflow as tf

    names: List[str] = []
    if hasattr(model, "evaluation_outputs"):
        keys = tuple(getattr(model, "evaluation_features", ("image",)))
        outputs = model.evaluation_outputs
    else:
        keys, serving = ("image",), model.serving_model()

        def outputs(features):
            return {"serving": serving(features["image"], training=False)["au"]}

    @tf.function(reduce_retracing=True, autograph=False)  # as Keras traces models' call
    def predict(features):
        out = outputs(features)
        names[:] = list(out)
        return tf.concat([tf.cast(out[n], tf.float32) for n in names], axis=1)
    return keys, predict, names


def evaluate_fold(s: RunSettings, model, fd: FoldData, fold: int, test_fn) -> Dict[str, Any]:
    from tfau import metrics as metrics_lib

    keys, predict, names = evaluation_predictor(model)
    y_true, y_mask, y_pred = metrics_lib.collect_predictions(
        predict, (({k: f[k] for k in keys if k in f}, t["labels"], t["label_mask"])
                  for f, t in test_fn()))
    variants = {n: metrics_lib.evaluate(y_true, p, y_mask, fd.protocol)
                for n, p in zip(names, np.split(y_pred, len(names), axis=1))}
    title = (f"{s.method} on {s.dataset}/{s.config}, "
             + (f"fold {fold} (test {fd.test_split})" if fd.has_folds
                else f"test split {fd.test_split}")
             + f", {len(y_true)} held-out frames")
    out = {"title": title, "fold": fold if fd.has_folds else None,
           "results": variants[names[0]], "n_test": int(len(y_true))}
    if len(variants) > 1:  # every decoding in the table, the reported one first
        out["variants"] = variants
    return out


def run_fold(recipe: Recipe, s: RunSettings, strategy, fold: int, run_dir: str,
             callbacks: Sequence[Any] = ()) -> Dict[str, Any]:
    """Trains, evaluates and exports one fold into ``run_dir``."""
    from tfau import metrics as metrics_lib
    from tfau.training import callbacks as callbacks_lib
    from tfau.training import strategy as strategy_lib

    chief = strategy_lib.is_chief()
    os.makedirs(run_dir, exist_ok=True)
    if chief:
        check_resume(run_dir, s)
    t_start = time.time()
    fd = scan_fold(recipe, s, fold)
    if chief and s.export_dir:
        exporting.check_export(s, fd, fold, run_dir)
    model, steps = build_and_compile(recipe, s, strategy, fd)
    train, val, test_fn = make_pipelines(recipe, s, model, fd, fold, steps)
    initial_epoch = callbacks_lib.initial_epoch_of(callbacks_lib.backup_dir_of(run_dir, chief))
    train = distribute_and_replay(model, strategy, train, s, initial_epoch, fold)
    if val is not None:
        val = strategy_lib.data_sharded(val)
    side_dir = run_dir if chief else tempfile.mkdtemp(prefix="tfau_worker_")
    cbs = callbacks_lib.make_callbacks(
        callbacks_lib.backup_dir_of(run_dir, chief), side_dir, has_val=val is not None, extra=callbacks,
        early_stopping_patience=recipe.early_stopping_patience, announce=chief)
    run_info = run_info_of(recipe, s, strategy, fold, fd, steps)
    if chief:
        runs_lib.write_run(run_dir, run_info)

    print(f"[tfau] {s.method} on {s.dataset}/{s.config} fold {fold}: {fd.n_train} training "
          f"examples ({fd.train_split}), {steps} steps x {s.epochs} epochs, batch "
          f"{s.batch_size}, {s.image_size}px, {strategy_lib.describe(strategy)}, {s.precision}",
          flush=True)
    t_fit = time.time()
    model.fit(train, epochs=s.epochs, steps_per_epoch=steps, validation_data=val, shuffle=False,
              callbacks=cbs, verbose=s.verbose)
    fit_s = time.time() - t_fit
    if chief:
        model.save_weights(os.path.join(run_dir, runs_lib.FINAL_WEIGHTS), overwrite=True)
        runs_lib.save_keras(model, run_dir)  # tfau.Detector("<run>/final.keras")

    t_eval = time.time()
    out = evaluate_fold(s, model, fd, fold, test_fn)
    out.update({"fit_seconds": round(fit_s, 1), "eval_seconds": round(time.time() - t_eval, 1),
                "seconds": round(time.time() - t_start, 1)})
    if chief:
        table = metrics_lib.render_table(out.get("variants", out["results"]), fd.protocol)
        extra = {k: (json.loads(metrics_lib.results_to_json(v)) if k == "variants" else v)
                 for k, v in out.items()}
        runs_lib.write_results(run_dir, out["title"], table, out["results"], fd.protocol,
                               extra=extra)
        print("\n" + out["title"] + "\n" + table + "\n", flush=True)
        if s.export_dir:
            out["saved_model"] = exporting.export_fold(s, model, fd, fold, run_dir, run_info)
    return out


# --------------------------------------------------------------------------------------------
# Entry points


def train(recipe: Recipe, s: RunSettings, strategy, callbacks: Sequence[Any] = ()
          ) -> Dict[str, Any]:
    """Every fold of resolved settings ``s``; returns the summary (``results``: fold mean)."""
    from tfau import data as data_lib
    from tfau import metrics as metrics_lib
    from tfau.training import strategy as strategy_lib

    t0 = time.time()
    chief = strategy_lib.is_chief()
    if chief:
        data_lib.ensure_built(s.dataset, s.config, s.data_dir,
                              log=lambda m: print(m, flush=True))
    else:
        data_lib.wait_until_built(s.dataset, s.config, s.data_dir)
    fold_out = []
    for fold in s.folds:
        fold_dir = s.output_dir if len(s.folds) == 1 else os.path.join(s.output_dir, f"fold{fold}")
        done = os.path.join(fold_dir, runs_lib.RESULTS_JSON)
        if len(s.folds) > 1 and os.path.exists(done) and chief:
            print(f"[tfau] fold {fold} already finished in {fold_dir}", flush=True)
            fold_out.append(runs_lib.read_results(done))
            continue
        fold_out.append(run_fold(recipe, s, strategy, fold, fold_dir, callbacks))

    summary: Dict[str, Any] = {"output_dir": s.output_dir, "folds": fold_out,
                               "settings": dataclasses.asdict(s)}
    if len(fold_out) > 1 and chief:
        protocol = data_lib.protocol_of(data_lib.get_builder(s.dataset, s.config, s.data_dir))
        mean = runs_lib.average_results([f["results"] for f in fold_out])
        title = (f"{s.method} on {s.dataset}/{s.config}, mean of folds "
                 f"{', '.join(str(f['fold']) for f in fold_out)}")
        table = metrics_lib.render_table(mean, protocol)
        runs_lib.write_results(s.output_dir, title, table, mean, protocol,
                               extra={"per_fold": [f["title"] for f in fold_out]})
        print("\n" + title + "\n" + table + "\n", flush=True)
        summary["results"] = mean
    else:
        summary["results"] = fold_out[0]["results"]
    summary["seconds"] = round(time.time() - t0, 1)
    print(f"[tfau] done in {time.time() - t0:.0f}s; run folder {s.output_dir}", flush=True)
    return summary


def main(recipe, argv: Optional[Sequence[str]] = None,
         callbacks: Sequence[Any] = ()) -> Dict[str, Any]:
    """Runs a recipe (or a method name) from the command line; returns the results summary."""
    recipe = get_recipe(recipe)
    args = build_parser(recipe).parse_args(argv)
    from tfau.data.pipeline import tune_malloc

    tune_malloc()  # before TensorFlow's threads start allocating
    from tfau.training import strategy as strategy_lib

    # The strategy must exist before any other TensorFlow op (MultiWorkerMirroredStrategy).
    strategy = strategy_lib.make_strategy()
    s = resolve(recipe, args)
    strategy_lib.set_precision(s.precision)
    strategy_lib.set_determinism(s.seed, s.deterministic, xla=s.jit)
    return train(recipe, s, strategy, callbacks)


def run(recipe, callbacks: Sequence[Any] = (), **flags) -> Dict[str, Any]:
    """Trains one configuration from Python; the keyword arguments are the train scripts'
    flags (``dataset="synthetic_au", fold="1", preset="tiny", seed=2, output_dir=...,
    model_option={"lam": 0.1}`` or ``["lam=0.1"]``, ``no_export=True``...).

    Returns the summary: ``results`` (``tfau.metrics.evaluate``'s dict: per-AU metrics and
    ``avg``; the fold mean when several folds ran), ``folds`` (per fold: ``title``, ``fold``,
    ``results``), ``output_dir`` and ``settings``. Finished folds in ``output_dir`` are reused
    and an interrupted one resumes (same rules as the command line).
    """
    argv: List[str] = []
    for key, value in flags.items():
        flag = "--" + key
        if key == "model_option" and isinstance(value, dict):
            value = [f"{k}={json.dumps(v) if isinstance(v, (list, tuple)) else v}"
                     for k, v in value.items()]
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [flag, str(v)]
        elif value is not None:
            argv += [flag, str(value)]
    return main(recipe, argv, callbacks=callbacks)


def run_script(recipe) -> None:
    """``run_script("g2rl")``: the body of ``train_scripts/g2rl.py``."""
    main(recipe, sys.argv[1:])
