"""tfau: facial Action Unit estimation in TensorFlow / Keras 3.

Importing ``tfau`` is cheap: TensorFlow, OpenCV and dlib are imported only by the
submodules that need them (``tfau.face`` imports cv2/dlib on first use).
"""

__version__ = "0.1.0"

from tfau import aus  # noqa: F401  (pure Python catalogue)

__all__ = ["Detector", "read_results", "aus"]


def __getattr__(name):
    # ``tfau.Detector`` / ``tfau.read_results`` without importing TensorFlow on ``import tfau``
    if name in ("Detector", "read_results"):
        from tfau import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'tfau' has no attribute {name!r}")
