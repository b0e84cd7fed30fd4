"""Context explanations of segmentation models (grid saliency, Hoyer et al. NeurIPS 2019).

- :class:`GridSaliency`: perturbation-based context saliency, batched over requests.
- :class:`GradientSaliency`: VG / IG / SG baselines through Captum, as context maps.
- request builders (prediction, ground truth, intersection; per class or component).
- :func:`context_statistics`: dataset-level context-class shares vs the dilation baseline.
- :func:`explain_images`: explain a config's dataset split or image files into result files.
"""
from .context_stats import (COUNT_COLUMNS, DILATION_AREA, class_shares, context_statistics,
                            dilation_baseline, row_name, save_context_statistics)
from .explain import (METHODS, build_explainer, class_names, explain_images, image_source,
                      iter_records, load_record, merge_records, request_key)
from .gradients import GradientSaliency
from .grid import (DEFAULT_PERTURBATIONS, GridSaliency, SegmentationLogits, as_requests, frozen,
                   images_from_inputs)
from .requests import (Request, build_requests, connected_components, erode_mask, paper_min_size,
                       present_keys, requests_from_intersection, requests_from_labels)

__all__ = [
    'GridSaliency', 'GradientSaliency', 'SegmentationLogits', 'images_from_inputs', 'frozen',
    'as_requests', 'DEFAULT_PERTURBATIONS', 'Request', 'erode_mask', 'connected_components',
    'requests_from_labels', 'requests_from_intersection', 'build_requests', 'present_keys',
    'paper_min_size',
    'context_statistics', 'save_context_statistics', 'dilation_baseline', 'class_shares',
    'row_name', 'DILATION_AREA', 'COUNT_COLUMNS', 'METHODS', 'build_explainer', 'class_names',
    'explain_images', 'image_source', 'iter_records', 'load_record', 'merge_records',
    'request_key'
]
