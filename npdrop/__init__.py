"""npdrop: PyTorch's dropout family in plain NumPy, with hand-written backward passes.

Dropout is not just zeroing random neurons: kept units are scaled by 1/(1-p) in training,
eval is the identity, and backward multiplies by the very mask the forward drew.

Modules, from the top:

- ``dropout``: the layers, each with its formula; ``functional``: the pure forward and backward;
- ``variants``: each variant's noise shape and rule; ``rules``: the rules (``keep / (1-p)``, ...);
  ``_masking``: ``x * noise (+ shift)`` and ``grad * noise``, block by block;
- ``rng``, ``fastmask``, ``torchrng``: where keep-masks come from (NumPy, a fast exact draw,
  torch's CPU stream);
- ``module``, ``linear``, ``activations``, ``container``, ``losses``, ``optim``,
  ``serialization``: a small nn to train with;
- ``testing``: tools for comparing with torch (not imported by ``import npdrop``).
"""
from .dropout import (AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d,
                      FeatureAlphaDropout, GaussianDropout)
from .functional import (alpha_dropout_forward, dropout1d_forward, dropout2d_forward,
                         dropout3d_forward, dropout_backward, dropout_forward,
                         feature_alpha_dropout_forward, gaussian_dropout_forward)
from .activations import GELU, ReLU, Sigmoid, Tanh, erf
from .container import MLP, Sequential
from .gradcheck import check_module_gradients, numerical_gradient
from .linear import Linear
from .losses import CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module, Parameter
from .optim import SGD
from .serialization import load, save
from .torchrng import TorchCPUGenerator
from .rng import MaskQueue, MaskSource, NumpySource, as_source
from .errors import ComplexInputError, DropoutTypeError, DropoutValueError

__version__ = "0.1.0"

__all__ = [
    "AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout",
    "GaussianDropout",
    "alpha_dropout_forward", "dropout1d_forward", "dropout2d_forward", "dropout3d_forward",
    "dropout_backward", "dropout_forward", "feature_alpha_dropout_forward",
    "gaussian_dropout_forward",
    "Module", "Parameter", "IncompatibleKeys",
    "Linear", "ReLU", "Tanh", "Sigmoid", "GELU", "erf", "Sequential", "MLP",
    "MSELoss", "CrossEntropyLoss", "SGD", "save", "load",
    "check_module_gradients", "numerical_gradient",
    "TorchCPUGenerator",
    "MaskQueue", "MaskSource", "NumpySource", "as_source",
    "DropoutValueError", "DropoutTypeError", "ComplexInputError",
]
