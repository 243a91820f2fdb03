"""Faults against built datasets and the train scripts' entry (issue 17 item 7, issue 16 item 4):
a garbage ``dataset_info.json`` or a corrupt record file ends in an error naming the file and
saying how to rebuild; a bad path given to a train script is one line naming the flag."""
import glob
import os
import shutil
import sys

import pytest

TINY = "disfa_intensity_tiny"


@pytest.fixture
def data_copy(tiny_data_dir, tmp_path):
    """A private copy of the tiny synthetic_au (this test damages it)."""
    dst = str(tmp_path / "tfds")
    shutil.copytree(tiny_data_dir, dst)
    folder = glob.glob(os.path.join(dst, "synthetic_au", TINY, "*"))[0]
    return dst, folder


def test_garbage_dataset_info_names_the_file(data_copy):
    from tfau.data import loading

    data_dir, folder = data_copy
    info = os.path.join(folder, "dataset_info.json")
    with open(info, "w") as f:
        f.write("{garbage")
    with pytest.raises(loading.DatasetFileError) as err:
        loading.load_split("synthetic_au", TINY, "fold1", data_dir, download=False)
    assert info in str(err.value) and "build it again" in str(err.value)


def _corrupt(path):
    data = bytearray(open(path, "rb").read())
    data[3000:3100] = b"\0" * 100
    with open(path, "wb") as f:
        f.write(bytes(data))


def test_corrupt_records_name_the_file(data_copy, tiny_saved_model, capsys):
    import tensorflow as tf

    from tfau import cli
    from tfau.data import loading

    data_dir, folder = data_copy
    record = glob.glob(os.path.join(folder, "*fold1.tfrecord*"))[0]
    _corrupt(record)
    ds = loading.load_split("synthetic_au", TINY, "fold1", data_dir, download=False)
    with pytest.raises(tf.errors.DataLossError) as raw:
        for _ in ds:
            pass
    err = loading.explain_read_error(raw.value, "synthetic_au", TINY, "fold1", data_dir)
    assert str(err).startswith(record + ": corrupt dataset records (corrupted record at")
    # without naming the split: every split this process loaded is checked
    assert loading.explain_read_error(raw.value).args[0].startswith(record)
    # the same through `tfau evaluate`: one line, exit 2
    code = cli.main(["evaluate", "--model", tiny_saved_model, "--dataset", "synthetic_au",
                     "--config", TINY, "--split", "fold1", "--data_dir", data_dir,
                     "--output", os.path.join(data_dir, "eval"), "--no_progress"])
    stderr = capsys.readouterr().err
    assert code == 2 and record in stderr and "Traceback" not in stderr


def test_train_script_errors_are_one_line_naming_the_flag(monkeypatch, capsys):
    import tfau.training as training

    def fails():
        raise FileNotFoundError("resnet18 weights file not found: /nope.h5")

    monkeypatch.setattr(sys, "argv", ["train_scripts/x.py", "--preset", "tiny",
                                      "--backbone_weights", "/nope.h5"])
    with pytest.raises(SystemExit) as exit_:
        training._one_line_errors(fails)()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("train_scripts/x.py: error: argument --backbone_weights: resnet18 weights "
                   "file not found: /nope.h5")

    def bug():
        raise ZeroDivisionError("a real bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        training._one_line_errors(bug)()


@pytest.mark.slow
def test_train_script_bad_path_end_to_end(run_python, tmp_path):
    proc = run_python(["train_scripts/resnet_deconv.py", "--preset", "tiny", "--output_dir",
                       "/etc/passwd"], check=False, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "error: argument --output_dir: [Errno 17] File exists: '/etc/passwd'")
    assert "Traceback" not in proc.stderr
