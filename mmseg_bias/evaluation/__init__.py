from .context_bias import (ContextBiasMetric, context_bias_detection,
                           context_bias_localization, iou_drop)
from .evaluate import evaluate
from .logit_structure import LogitStats, LogitStructureMetric, evaluate_logit_structure
from .metrics import *  # noqa: F401,F403

__all__ = ['ContextBiasMetric', 'context_bias_detection', 'context_bias_localization', 'iou_drop',
           'evaluate', 'LogitStats', 'LogitStructureMetric', 'evaluate_logit_structure']
