"""Training callbacks: the crash-safe backup a killed run resumes from, and the callback list.

``AtomicBackup`` replaces Keras's ``BackupAndRestore``, whose backup is two files written in
place (``latest.weights.h5`` then ``training_metadata.json``): a kill or a full disk during the
write leaves a truncated weights file that blocks resuming (and a kill between the two files
pairs epoch k+1's weights with epoch k's counter). Here each backup is one folder,
``backup/state-<epoch>``, holding both files; it is written under a temporary name, flushed
to disk and renamed into place, and the previous folder is removed only after that. So at any
instant the newest complete ``state-*`` folder is a consistent (weights, optimizer, epoch)
triple; a leftover temporary folder is ignored and cleared, and if the newest folder cannot be
read (a disk that lied), the one before it is tried.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from typing import Any, List, Optional, Sequence, Tuple

import keras

_STATE = re.compile(r"^state-(\d{5,})$")
WEIGHTS_NAME = "model.weights.h5"
META_NAME = "state.json"


def backup_dir_of(run_dir: str, chief: bool) -> str:
    """The chief's backup lives in the run folder; other workers back up to a scratch folder."""
    return (os.path.join(run_dir, "backup") if chief else
            os.path.join(tempfile.gettempdir(), f"tfau_backup_{os.getpid()}"))


def list_states(backup_dir: str) -> List[Tuple[int, str]]:
    """Complete backups in ``backup_dir`` as (epoch, folder), newest first."""
    if not os.path.isdir(backup_dir):
        return []
    found = []
    for name in os.listdir(backup_dir):
        m = _STATE.match(name)
        path = os.path.join(backup_dir, name)
        if m and os.path.isfile(os.path.join(path, META_NAME)):
            found.append((int(m.group(1)), path))
    return sorted(found, reverse=True)


def _read_meta(path: str) -> dict:
    with open(os.path.join(path, META_NAME)) as f:
        meta = json.load(f)
    if not isinstance(meta, dict) or not isinstance(meta.get("epoch"), int):
        raise ValueError(f"{os.path.join(path, META_NAME)}: no integer 'epoch'")
    return meta


def _check_state(path: str) -> int:
    """The epoch of backup folder ``path``; raises if its files cannot be read."""
    import h5py

    meta = _read_meta(path)
    with h5py.File(os.path.join(path, WEIGHTS_NAME), "r"):
        pass
    return int(meta["epoch"])


def initial_epoch_of(backup_dir: str) -> int:
    """The epoch a run resumes after: that of the newest readable backup (0 if none).

    The same rule as ``AtomicBackup.on_train_begin``, so the trainer's replay of the finished
    epochs' reshuffles matches the state that is restored.
    """
    for _, path in list_states(backup_dir):
        try:
            return _check_state(path)
        except (OSError, ValueError):
            continue
    return 0


def _fsync_tree(path: str) -> None:
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicBackup(keras.callbacks.Callback):
    """Backs up weights, optimizer state and the epoch after every epoch, atomically.

    Args:
      backup_dir: folder of the ``state-<epoch>`` backups (created when first needed).
      delete_on_end: remove the backup folder when ``fit`` ends normally (the run folder then
        holds only ``final.weights.h5``), as ``BackupAndRestore`` does.
    """

    def __init__(self, backup_dir: str, delete_on_end: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError("AtomicBackup needs a backup_dir")
        self.backup_dir = backup_dir
        self.delete_on_end = delete_on_end
        self.restored_from: Optional[str] = None

    # -- restore -----------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._clear_temporaries()
        for _, path in list_states(self.backup_dir):
            try:
                epoch = _check_state(path)
                optimizer = getattr(self.model, "optimizer", None)
                if optimizer is not None and not optimizer.built:
                    optimizer.build(self.model.trainable_variables)
                self.model.load_weights(os.path.join(path, WEIGHTS_NAME))
            except Exception as err:  # noqa: BLE001 - any unreadable backup: try the older one
                print(f"[tfau] backup {path} could not be read ({type(err).__name__}: "
                      f"{err}); trying the previous one", flush=True)
                continue
            self.model._initial_epoch = epoch
            self.restored_from = path
            return

    # -- save --------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1)

    def save(self, epoch: int) -> str:
        os.makedirs(self.backup_dir, exist_ok=True)
        final = os.path.join(self.backup_dir, f"state-{epoch:05d}")
        tmp = tempfile.mkdtemp(prefix=f".state-{epoch:05d}.", suffix=".tmp", dir=self.backup_dir)
        try:
            self.model.save_weights(os.path.join(tmp, WEIGHTS_NAME), overwrite=True)
            with open(os.path.join(tmp, META_NAME), "w") as f:
                json.dump({"epoch": int(epoch)}, f)
            _fsync_tree(tmp)
            if os.path.exists(final):  # a rerun of the same epoch: replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old_epoch, path in list_states(self.backup_dir):
            if old_epoch != epoch:
                shutil.rmtree(path, ignore_errors=True)
        return final

    def on_train_end(self, logs=None):
        if self.delete_on_end and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    def _clear_temporaries(self) -> None:
        if not os.path.isdir(self.backup_dir):
            return
        for name in os.listdir(self.backup_dir):
            if name.startswith(".state-") and name.endswith(".tmp"):
                shutil.rmtree(os.path.join(self.backup_dir, name), ignore_errors=True)


def has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def make_callbacks(backup_dir: str, side_dir: str, *, early_stopping_patience: int = 0,
                   has_val: bool = False, extra: Sequence[Any] = (),
                   announce: bool = True) -> List[Any]:
    """The trainer's callbacks: backup, last/best checkpoints, CSV history, TensorBoard."""
    cbs: List[Any] = [
        AtomicBackup(backup_dir),
        keras.callbacks.ModelCheckpoint(
            os.path.join(side_dir, "checkpoints", "last.weights.h5"), save_weights_only=True),
        keras.callbacks.CSVLogger(os.path.join(side_dir, "history.csv"), append=True),
    ]
    if has_tensorboard():
        cbs.append(keras.callbacks.TensorBoard(os.path.join(side_dir, "logs"), profile_batch=0))
    elif announce:
        print("[tfau] TensorBoard logs off: `pip install tensorboard` to get them", flush=True)
    if early_stopping_patience:
        monitor = "val_loss" if has_val else "loss"
        cbs.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=early_stopping_patience, restore_best_weights=True))
        if has_val:
            cbs.append(keras.callbacks.ModelCheckpoint(
                os.path.join(side_dir, "checkpoints", "best.weights.h5"), monitor=monitor,
                save_best_only=True, save_weights_only=True))
    cbs.extend(extra)
    return cbs
