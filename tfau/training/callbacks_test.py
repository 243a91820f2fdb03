"""AtomicBackup: a backup interrupted mid-write (kill, full disk) never replaces the last good one."""
import errno
import os

import keras
import numpy as np
import pytest

from tfau.training import callbacks as cb


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")


def _fit(model, backup, epochs, initial_epoch=0):
    x, y = _data()
    model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0, callbacks=[backup],
              initial_epoch=initial_epoch)


def _weights_equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_keeps_only_the_newest_complete_state(tmp_path):
    backup = cb.AtomicBackup(str(tmp_path / "backup"), delete_on_end=False)
    _fit(_model(), backup, epochs=3)
    assert os.listdir(tmp_path / "backup") == ["state-00003"]
    assert cb.initial_epoch_of(str(tmp_path / "backup")) == 3


def test_deleted_when_fit_ends(tmp_path):
    _fit(_model(), cb.AtomicBackup(str(tmp_path / "backup")), epochs=2)
    assert not (tmp_path / "backup").exists()


def test_full_disk_during_write_keeps_previous_state(tmp_path, monkeypatch):
    path = str(tmp_path / "backup")
    model = _model()
    _fit(model, cb.AtomicBackup(path, delete_on_end=False), epochs=2)
    good = [w.copy() for w in model.get_weights()]

    real_save = model.save_weights

    def full_disk(filepath, overwrite=True):
        real_save(filepath, overwrite=overwrite)
        with open(filepath, "r+b") as f:  # a truncated file, then the disk is full
            f.truncate(100)
        raise OSError(errno.ENOSPC, "No space left on device", filepath)

    monkeypatch.setattr(model, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _fit(model, cb.AtomicBackup(path, delete_on_end=False), epochs=3, initial_epoch=2)
    assert os.listdir(path) == ["state-00002"]  # no truncated file, no temporary left

    fresh = _model(seed=1)
    restore = cb.AtomicBackup(path, delete_on_end=False)
    restore.set_model(fresh)
    restore.on_train_begin()
    assert fresh._initial_epoch == 2 and restore.restored_from.endswith("state-00002")
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), good))


def test_leftover_temporary_is_ignored_and_cleared(tmp_path):
    path = tmp_path / "backup"
    model = _model()
    _fit(model, cb.AtomicBackup(str(path), delete_on_end=False), epochs=1)
    junk = path / ".state-00002.abc.tmp"  # what a kill -9 during the write leaves
    junk.mkdir()
    (junk / cb.WEIGHTS_NAME).write_bytes(b"\x89HDF garbage")
    assert cb.initial_epoch_of(str(path)) == 1

    fresh = _model(seed=1)
    restore = cb.AtomicBackup(str(path), delete_on_end=False)
    restore.set_model(fresh)
    restore.on_train_begin()
    assert fresh._initial_epoch == 1 and _weights_equal(fresh, model)
    assert sorted(os.listdir(path)) == ["state-00001"]


def test_unreadable_newest_falls_back_to_the_previous(tmp_path, capsys):
    path = tmp_path / "backup"
    model = _model()
    backup = cb.AtomicBackup(str(path), delete_on_end=False)
    _fit(model, backup, epochs=1)
    bad = path / "state-00002"  # a folder whose file the disk corrupted after the rename
    bad.mkdir()
    (bad / cb.META_NAME).write_text('{"epoch": 2}')
    (bad / cb.WEIGHTS_NAME).write_bytes(b"not an h5 file")

    assert cb.initial_epoch_of(str(path)) == 1  # the trainer replays what is restored
    fresh = _model(seed=1)
    restore = cb.AtomicBackup(str(path), delete_on_end=False)
    restore.set_model(fresh)
    restore.on_train_begin()
    assert "state-00002 could not be read" in capsys.readouterr().out
    assert fresh._initial_epoch == 1 and _weights_equal(fresh, model)
