"""TFDS builder folder for disfa: `disfa_dataset_builder.Builder`.

Build with `tfds build datasets/disfa --manual_dir ...`. Deliberately imports nothing: pytest
(importlib mode) and `tfds build` import this package under other names, and importing the
builder here would register the dataset twice.
"""
