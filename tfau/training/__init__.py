"""The one trainer: ``run(recipe, **flags)`` / ``main(recipe, argv)`` (see ``trainer``).

Recipes (the papers' training facts) are in ``tfau.recipes``; the run-folder format is
``tfau.runs``. Imports are lazy so ``tfau.training.optim`` loads without the trainer.
"""
from tfau import quiet as _quiet

# before TensorFlow loads: no C++ start-up logging (TF_CPP_MIN_LOG_LEVEL=0 brings it back)
_quiet.quiet_tensorflow()
from tfau import require_tensorflow

require_tensorflow("tfau.training (the trainer, recipes)")  # clear error without TF (issue 15)
from tfau.training.optim import AdamL2, OptimizerSpec  # noqa: E402

__all__ = ["AdamL2", "OptimizerSpec", "main", "run", "run_script"]


def __getattr__(name):
    if name in ("main", "run", "run_script"):
        from tfau.training import trainer

        fn = getattr(trainer, name)
        return _one_line_errors(fn) if name == "run_script" else fn
    raise AttributeError(f"module 'tfau.training' has no attribute {name!r}")


def _one_line_errors(fn):
    """The train scripts' entry: a missing or unusable path, a non-tfau/corrupt model or a
    corrupt dataset file ends in one line naming the file (and the flag that gave it), exit 2,
    instead of a traceback (issue 16 item 4, issue 17 item 7)."""
    import functools
    import sys

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import tensorflow as tf

        from tfau import export as export_lib
        from tfau.data import loading

        try:
            return fn(*args, **kwargs)
        except tf.errors.DataLossError as e:
            err = loading.explain_read_error(e)
        except (OSError, loading.DatasetFileError, export_lib.ModelError) as e:
            if isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, FileExistsError,
                                                             NotADirectoryError,
                                                             IsADirectoryError,
                                                             PermissionError)):
                raise
            err = e
        text = str(err)
        argv = sys.argv[1:]
        flags = [f"argument {a.split('=')[0]}: " for i, a in enumerate(argv)
                 if a.startswith("--") and (("=" in a and a.split("=", 1)[1] in text) or (
                     "=" not in a and i + 1 < len(argv) and argv[i + 1] in text))]
        print(f"{sys.argv[0]}: error: {flags[0] if flags else ''}{text}", file=sys.stderr)
        raise SystemExit(2)

    return wrapped
