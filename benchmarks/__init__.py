"""tfau's benchmarks, outside the package (as keras-hub keeps its own): ``python -m benchmarks``.

One module per section, each asking the model registry and the recipes what to run (no model is
named here):

  settings.py   Settings presets (full / quick / tiny); models, protocols and baselines from the
                registry and the recipes
  common.py     timing (best of the timed calls), machine facts, tables, targets
  flops.py      FLOPs of a traced graph and op time of a profiler trace, on the plain, oneDNN
                (``_Mkl*``) and grappler-fused (``_Fused*``) op spellings
  models.py     sections ``peak``, ``models``, ``precision`` and ``--profile`` (ModelBench)
  ratios.py     section ``ratios``: model / baseline, decomposed / naive layer, one-pass / per-AU
  memory.py     section ``memory``: peak RSS per layer variant, one subprocess each
  pipeline.py   section ``pipeline`` (also ``python -m benchmarks.pipeline``)
  run.py        the command line (``python -m benchmarks``; ``python -m tfau.bench`` forwards here)

Figures and how they were taken: ``BENCHMARKS.md``.
"""
