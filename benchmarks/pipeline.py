"""Section ``pipeline``: throughput of tfau.data (JPEG decode, resize, augmentation, targets),
images per second, without a model; and ``python -m benchmarks.pipeline`` on its own::

  python -m benchmarks.pipeline                       # synthetic_au/disfa_intensity, 256 px
  python -m benchmarks.pipeline --image_size 128 --batches 40 --data_dir /tmp/tfds

A case is an augmentation and a set of targets. Each model's case is what it trains with: its
recipe's augmentation on its protocol (``Recipe.augmentation``) and the targets it declares
(``required_targets``); one more case (``FULL``) runs every augmentation and target at once.
Builds synthetic_au first if needed (not timed); each case reads the JPEG records of one fold,
and the first ``warmup`` batches are not timed.
"""
from __future__ import annotations

import argparse
import time

from benchmarks.common import check_target, load_average, print_table
from benchmarks.settings import PIPELINE_CONFIGS

FULL = "full+all_targets"
_NAMES = {"flip": "flip", "rotation": "rot", "scale": "scale", "translation": "shift",
          "brightness": "bright", "contrast": "contrast", "saturation": "sat",
          "crop_fraction": "crop"}


def case_name(augment, targets):
    """``"flip+rot30+crop0.875/roi_maps"``: the augmentation's non-default fields, then the
    map targets (``labels`` when there are none)."""
    parts = []
    for field, short in _NAMES.items():
        value = getattr(augment, field)
        if field == "flip":
            if value:
                parts.append(short)
        elif (value < 1.0) if field == "crop_fraction" else value:
            parts.append(f"{short}{value:g}")
    maps = [t for t in targets if t not in ("labels", "label_mask")]
    return f"{'+'.join(parts) or 'none'}/{'+'.join(maps) or 'labels'}"


def full_case():
    from tfau.data import AugmentConfig
    from tfau.data.pipeline import TARGET_KEYS

    return (AugmentConfig(flip=True, rotation=15, scale=0.1, translation=0.05, brightness=0.1,
                          contrast=0.2, saturation=0.2), tuple(TARGET_KEYS))


def model_case(name, protocol):
    """``(augment, targets)`` model ``name`` trains with on ``protocol``."""
    from tfau.data import AugmentConfig
    from tfau.models import model_class
    from tfau.recipes import get_recipe, recipe_names

    augment = get_recipe(name).augmentation(protocol) if name in recipe_names() else AugmentConfig()
    return augment, tuple(model_class(name).required_targets)


def all_cases(models, protocol_of):
    """``{case name: (augment, targets)}`` of ``models`` plus ``FULL``."""
    cases = {}
    for name in models:
        augment, targets = model_case(name, protocol_of(name))
        cases[case_name(augment, targets)] = (augment, targets)
    cases[FULL] = full_case()
    return cases


def run(cases, data_dir=None, config="disfa_intensity", image_size=256, batch_size=32, batches=60,
        warmup=5, decode_in_pipeline=True, windows=3):
    """Best images/s of each case ``{name: (augment, targets)}`` on ``synthetic_au/config``.

    A case that crops (``crop_fraction < 1``) outputs ``image_size * crop_fraction`` (224 of
    256), the model input of such a recipe."""
    import tensorflow as tf

    from tfau.data import get_builder, load_split, make_pipeline, protocol_of

    protocol = protocol_of(get_builder("synthetic_au", config, data_dir))  # custom configs too
    results = {}
    for name, (augment, targets) in cases.items():
        size = int(round(image_size * augment.crop_fraction))
        raw = load_split("synthetic_au", config, "fold1+fold2+fold3", data_dir,
                         decode_image=not decode_in_pipeline)
        ds = make_pipeline(raw.repeat(), protocol, size, targets=targets, batch_size=batch_size,
                           training=True, augment=augment, seed=0)
        it = iter(ds)
        for _ in range(warmup):
            next(it)
        # Best of `windows` consecutive windows (as timeit and the other sections): on this
        # shared 2-core VM one window's rate moves by +-15% from run to run.
        per_window = max(1, batches // windows)
        rates = []
        for _ in range(windows):
            start = time.perf_counter()
            for _ in range(per_window):
                features, _ = next(it)
            rates.append(per_window * batch_size / (time.perf_counter() - start))
        tf.debugging.assert_all_finite(features["image"], "image")
        results[name] = max(rates)
        print(f"{name:34s} {size}px batch {batch_size}: {results[name]:7.0f} images/s "
              f"(windows: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
    return results


def run_section(bench):
    """Per synthetic_au config and per model's case, against the model's training rate."""
    s = bench.s
    cases = {m: model_case(m, s.protocol(m)) for m in s.models}
    names = {m: case_name(*c) for m, c in cases.items()}
    if s.mode == "full":  # every case on every config
        configs = {c: all_cases(s.models, s.protocol) for c in PIPELINE_CONFIGS}
    else:
        configs = {}
        for m in s.models:
            configs.setdefault(s.protocol(m), {})[names[m]] = cases[m]
    rates = {}
    runs = []
    for config, config_cases in configs.items():
        t0 = time.perf_counter()
        try:
            res = run(config_cases, data_dir=s.data_dir, config=config, image_size=s.pipeline_size,
                      batch_size=s.pipeline_batch, batches=s.pipeline_batches,
                      warmup=s.pipeline_warmup)
        except Exception as exc:  # noqa: BLE001
            runs.append({"config": config, "error": repr(exc)})
            print(f"  pipeline {config}: error {exc!r}")
            continue
        for case, ips in res.items():
            rates[(config, case)] = float(ips)
            runs.append({"config": config, "case": case, "images_per_s": float(ips)})
        runs[-1]["wall_s"] = time.perf_counter() - t0
    rows, per_model, checks = [], [], []
    for m in s.models:
        config, case = s.protocol(m), names[m]
        ips = rates.get((config, case))
        consume = bench.rows.get(m, {}).get("train_images_per_s")
        ratio = ips / consume if ips and consume else None
        per_model.append({"model": m, "config": config, "case": case, "images_per_s": ips,
                          "train_images_per_s": consume, "ratio": ratio})
        rows.append([m, config, case, ips, consume, ratio])
        if ips is not None:
            checks.append(dict(check_target("pipeline_images_per_s", ips), model=m))
        if ratio is not None:
            checks.append(dict(check_target("pipeline_vs_training", ratio), model=m))
    print_table(
        f"input pipeline, {s.pipeline_size}px source, batch {s.pipeline_batch} vs training "
        f"step at {s.image_size}px",
        ["model", "synthetic_au config", "case", "pipeline img/s", "train img/s", "ratio"],
        rows,
    )
    return {"runs": runs, "per_model": per_model, "targets": checks,
            "load_average": load_average()}


def main(argv=None):
    from benchmarks.settings import model_names, model_protocol

    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--config", default="disfa_intensity")
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=None,
                        help="subset of the case names (default: every model's and the full one)")
    parser.add_argument("--tfds_decode", action="store_true",
                        help="let TFDS decode the JPEGs (as load_split's default) instead of "
                             "make_pipeline's own parallel map")
    args = parser.parse_args(argv)
    from tfau.data import get_builder
    from tfau.data.loading import prepare

    cases = all_cases(model_names(), model_protocol)
    if args.cases:
        unknown = sorted(set(args.cases) - set(cases))
        if unknown:
            parser.error(f"--cases: unknown {unknown}; known: {sorted(cases)}")
        cases = {k: v for k, v in cases.items() if k in args.cases}
    prepare(get_builder("synthetic_au", args.config, args.data_dir), "synthetic_au")
    return run(cases, args.data_dir, args.config, args.image_size, args.batch_size, args.batches,
               args.warmup, decode_in_pipeline=not args.tfds_decode)


if __name__ == "__main__":
    main()
