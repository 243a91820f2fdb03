"""PyTorch ImageNet checkpoints -> our Keras backbones (HRNetV2-W18, ResNet-18).

``core``: reading ``.pth`` / ``.safetensors`` files and the all-or-nothing, tensor-by-tensor
assignment; ``hrnet`` / ``resnet``: the name maps; ``imagenet``: the ``"imagenet"`` weights
folder; ``cli``: ``tfau convert-weights``. Checked against timm / torchvision in the tests
beside them. Inside the package (keras-hub keeps its converters in ``tools/``) because
``backbone_weights`` accepts ``"imagenet"`` and checkpoint paths at training time.
"""
from tfau.backbones.conversion.core import (
    CONVERTIBLE,
    ConversionError,
    convert_checkpoint,
    converter,
    load_checkpoint_into,
    read_state_dict,
    weights_file_attrs,
)
from tfau.backbones.conversion.imagenet import SOURCES, imagenet_weights, weights_dir

__all__ = [
    "CONVERTIBLE",
    "ConversionError",
    "SOURCES",
    "convert_checkpoint",
    "converter",
    "imagenet_weights",
    "load_checkpoint_into",
    "read_state_dict",
    "weights_dir",
    "weights_file_attrs",
]
