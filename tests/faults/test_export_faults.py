"""Faults against export and serving (issues 16 and 17): each case ends in a clear error naming
the folder/file, or in a complete result."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from tfau import cli, export


@pytest.mark.parametrize("size", [32, 64, 256, 100])
def test_serve_bytes_resizes_any_size(tiny_saved_model, size):
    ok, data = cv2.imencode(".png", np.full((size, size, 3), 128, np.uint8))
    assert ok
    out = export.load(tiny_saved_model).predict_bytes([data.tobytes()])
    assert out["au"].shape == (1, 12) and np.isfinite(out["au"]).all()


def test_serve_bytes_garbage_is_a_clear_error(tiny_saved_model):
    with pytest.raises(ValueError, match="not a JPEG, PNG, GIF, BMP or WebP"):
        export.load(tiny_saved_model).predict_bytes([b"garbage"])


def test_empty_batch(tiny_saved_model):
    out = export.load(tiny_saved_model).predict(np.zeros([0, 32, 32, 3], np.uint8))
    assert out["au"].shape == (0, 12)


def test_export_never_deletes_a_foreign_folder(tmp_path):
    keep = tmp_path / "saved_models"
    keep.mkdir()
    (keep / "precious.txt").write_text("x")
    with pytest.raises(export.ExportTargetError, match="not a tfau SavedModel"):
        export.check_export_target(str(keep), replace=True)
    code = cli.main(["export", "--checkpoint", str(tmp_path / "nope"), "--output", str(keep)])
    assert code == 2 and (keep / "precious.txt").read_text() == "x"


def test_tfau_model_replaced_only_when_asked(tiny_saved_model, tmp_path):
    target = str(tmp_path / "m")
    shutil.copytree(tiny_saved_model, target)
    assert export.is_tfau_saved_model(target)
    with pytest.raises(export.ExportTargetError, match="--overwrite"):
        export.check_export_target(target)
    assert export.check_export_target(target, replace=True) == os.path.abspath(target)


def test_non_tfau_and_corrupt_models_name_the_file(tiny_saved_model, tmp_path):
    foreign = str(tmp_path / "foreign")
    shutil.copytree(tiny_saved_model, foreign)
    os.remove(os.path.join(foreign, export.METADATA_FILE))
    with open(os.path.join(foreign, "saved_model.pb"), "wb") as f:
        f.write(b"\0garbage")
    with pytest.raises(export.ModelError, match="foreign"):
        export.load(foreign)
    bad_meta = str(tmp_path / "badmeta")
    shutil.copytree(tiny_saved_model, bad_meta)
    with open(os.path.join(bad_meta, export.METADATA_FILE), "w") as f:
        f.write("{not json")
    with pytest.raises(export.ModelError, match="tfau.json"):
        export.load(bad_meta)
    with open(os.path.join(bad_meta, export.METADATA_FILE), "w") as f:
        json.dump({"format": "other"}, f)
    with pytest.raises(export.ModelError, match="lacks"):
        export.read_metadata(bad_meta)


def test_model_card_says_what_it_was_trained_on():
    from tfau import aus

    meta = export.build_metadata(aus.get_protocol("disfa_intensity"), 32, "g2rl", {"au": [None, 12]},
                                 {"dataset": "synthetic_au", "config": "disfa_intensity"})
    assert meta["trained_on"] == "synthetic_au/disfa_intensity"
    assert meta["trained_on_synthetic"] and meta["protocol_dataset"] == "disfa"
