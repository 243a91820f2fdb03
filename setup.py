"""Metadata lives in setup.cfg; this file only maps the top-level datasets/ folder
(TFDS layout) to the importable package ``tfau_datasets``."""
from setuptools import find_packages, setup

packages = find_packages(include=["tfau", "tfau.*"])
packages += ["tfau_datasets"] + [f"tfau_datasets.{p}" for p in find_packages("datasets")]
setup(packages=packages)
