"""Figures (matplotlib, Agg-safe), saved atomically with mmseg_bias.utils.save_figure."""
from .bias_figures import (plot_class_frequency, plot_erasure_test, plot_influence_matrix,
                           plot_iou_by_frequency, plot_similarity_matrix,
                           plot_similarity_vs_frequency, save_prediction_panels)
from .logit_figures import (plot_centroid_distances, plot_centroids, plot_correlation_grid,
                            plot_distance_vs_miou, plot_explained_variance, write_logit_figures)
from .robustness_figures import (plot_corruption_gallery, plot_robustness_comparison,
                                 plot_severity_curves)
from .saliency_figures import (plot_context_statistics, plot_saliency_overlay,
                               save_saliency_overlays)
from .toy_figures import (plot_cbd_matrix, plot_cbl_bars, plot_dataset_samples,
                          plot_grid_sweep, plot_iou_drop_matrix, plot_saliency_examples)

__all__ = ['plot_class_frequency', 'plot_erasure_test', 'plot_influence_matrix',
           'plot_iou_by_frequency', 'plot_similarity_matrix', 'plot_similarity_vs_frequency',
           'save_prediction_panels', 'plot_centroid_distances', 'plot_centroids',
           'plot_correlation_grid', 'plot_distance_vs_miou', 'plot_explained_variance', 'write_logit_figures',
           'plot_corruption_gallery', 'plot_robustness_comparison', 'plot_severity_curves',
           'plot_cbd_matrix', 'plot_cbl_bars', 'plot_dataset_samples', 'plot_grid_sweep',
           'plot_iou_drop_matrix', 'plot_saliency_examples',
           'plot_context_statistics', 'plot_saliency_overlay', 'save_saliency_overlays']
