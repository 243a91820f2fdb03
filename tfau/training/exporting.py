"""The trainer's export step: the SavedModel folder of a fold, checked before training and
written after it (``tfau.export`` does the writing; this module only decides where and whether).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

from tfau import runs as runs_lib
from tfau.training.flags import RunSettings


def export_path_of(s: RunSettings, fd, fold: int) -> str:
    name = f"{s.method}_{s.dataset}_{s.config}" + (f"_fold{fold}" if fd.has_folds else "")
    return os.path.join(s.export_dir, name)


def check_export(s: RunSettings, fd, fold: int, run_dir: str) -> None:
    """Before training: the export folder must be new, empty, this run's own earlier export, or
    (with ``--overwrite_export``) another tfau SavedModel; anything else stops the run here."""
    from tfau import export as export_lib

    path = export_path_of(s, fd, fold)
    own = False
    if export_lib.is_tfau_saved_model(path):
        with open(os.path.join(path, export_lib.METADATA_FILE)) as f:
            previous_run = json.load(f).get("run_dir") or ""
        own = bool(previous_run) and os.path.abspath(previous_run) == os.path.abspath(run_dir)
    try:
        export_lib.check_export_target(path, replace=own or s.overwrite_export)
    except export_lib.ExportTargetError as err:
        raise SystemExit(f"{err} (trainer: --overwrite_export replaces another run's "
                         "SavedModel; --export_dir DIR or --no_export avoid it)") from None


def export_fold(s: RunSettings, model, fd, fold: int, run_dir: str,
                run_info: Dict[str, Any]) -> str:
    """Exports the trained model (float32) to ``<export_dir>/<method>_<dataset>_<config>``
    (the folder was checked by ``check_export`` before training)."""
    import keras

    from tfau import export as export_lib

    path = export_path_of(s, fd, fold)
    serving = model
    if s.precision != "float32":
        # Export a float32 copy: CPUs serve float16 slowly (or not at all).
        keras.mixed_precision.set_global_policy("float32")
        serving = runs_lib.build_from_run(run_info)
        serving.set_weights(model.get_weights())
        keras.mixed_precision.set_global_policy(s.precision)
    export_lib.export_saved_model(
        serving, path, protocol=fd.protocol, image_size=s.image_size, method=s.method,
        extra_metadata={"dataset": s.dataset, "config": s.config,
                        "fold": fold if fd.has_folds else 0,
                        "run_dir": os.path.abspath(run_dir)},
        overwrite=True)
    print(f"[tfau] SavedModel: {path}", flush=True)
    return path
