from .evaluate import evaluate
from .metrics import *  # noqa: F401,F403

__all__ = ['evaluate']
