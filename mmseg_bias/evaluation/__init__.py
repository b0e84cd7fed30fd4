from .evaluate import evaluate
from .logit_structure import LogitStats, LogitStructureMetric, evaluate_logit_structure
from .metrics import *  # noqa: F401,F403

__all__ = ['evaluate', 'LogitStats', 'LogitStructureMetric', 'evaluate_logit_structure']
