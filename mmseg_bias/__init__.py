"""mmseg-bias: DropClass debiasing, IBE/SCrIBE robustness and grid-saliency context explanations
for MMSegmentation 1.x.

Importing the package registers every component into mmseg's registries, so a config needs only
``custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)``.
"""
from . import compat  # noqa: F401  (safe checkpoint loader, CPU distributed wrapper)
from . import datasets, engine, evaluation, models  # noqa: F401  (registers everything)
from .version import __version__

__all__ = ['__version__']
