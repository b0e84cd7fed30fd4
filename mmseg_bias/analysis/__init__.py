"""Bias analyses of the DropClass paper (supp. §A-C) for any MMSeg config + checkpoint."""
from .bias_vulnerability import (bias_vulnerability, cached_evaluator, erasure_evaluator,
                                 erasure_test, influence_matrix, most_influential, safe_name,
                                 save_bias_vulnerability, top_influencers)
from .class_frequency import (class_frequency, dataset_metainfo, frequency_order,
                              load_analysis_config, load_frequency, save_class_frequency,
                              write_table)
from .classifier_similarity import (classifier_similarity, classifier_weight, cosine_similarity,
                                    save_classifier_similarity)
from .disentanglement import (disentanglement_check, dropclass_head, replaced_classifier,
                              save_disentanglement, train_probe)
from .iou_by_frequency import iou_by_frequency, load_metrics, per_class_iou, save_iou_by_frequency

__all__ = [
    'bias_vulnerability', 'cached_evaluator', 'erasure_evaluator', 'erasure_test',
    'influence_matrix', 'most_influential', 'safe_name', 'save_bias_vulnerability',
    'top_influencers', 'class_frequency', 'dataset_metainfo', 'frequency_order',
    'load_analysis_config', 'load_frequency', 'save_class_frequency', 'write_table',
    'classifier_similarity', 'classifier_weight', 'cosine_similarity', 'save_classifier_similarity',
    'disentanglement_check', 'dropclass_head', 'replaced_classifier', 'save_disentanglement',
    'train_probe', 'iou_by_frequency', 'load_metrics', 'per_class_iou', 'save_iou_by_frequency'
]
