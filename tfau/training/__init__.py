"""The one trainer: ``run(recipe, **flags)`` / ``main(recipe, argv)`` (see ``trainer``).

Recipes (the papers' training facts) are in ``tfau.recipes``; the run-folder format is
``tfau.runs``. Imports are lazy so ``tfau.training.optim`` loads without the trainer.
"""
from tfau import quiet as _quiet

# before TensorFlow loads: no C++ start-up logging (TF_CPP_MIN_LOG_LEVEL=0 brings it back)
_quiet.quiet_tensorflow()
from tfau.training.optim import AdamL2, OptimizerSpec

__all__ = ["AdamL2", "OptimizerSpec", "main", "run", "run_script"]


def __getattr__(name):
    if name in ("main", "run", "run_script"):
        from tfau.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'tfau.training' has no attribute {name!r}")
