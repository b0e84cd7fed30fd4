"""Figures of logit-space structure: centroids, centroid distances, per-class correlations,
explained-variance curves of several models, and Distance vs mIoU across conditions.

Every ``plot_*`` function returns a matplotlib Figure (not attached to pyplot); save it with
:func:`mmseg_bias.utils.save_figure`.
"""
import math
import os.path as osp

import numpy as np
from matplotlib.figure import Figure

from ..utils import save_figure

__all__ = ['plot_centroids', 'plot_centroid_distances', 'plot_correlation_grid',
           'plot_explained_variance', 'plot_distance_vs_miou', 'write_logit_figures']

GROUP_LABEL = {'pred': 'pixels predicted as', 'gt': 'pixels labelled as'}


def _heatmap(matrix, rows, cols, title, colour_label, cmap='viridis', xlabel='', ylabel='',
             vmin=None, vmax=None):
    matrix = np.asarray(matrix, dtype=np.float64)
    size = max(4.0, 0.32 * max(matrix.shape) + 2)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=colour_label, shrink=0.8)
    return fig


def plot_centroids(centroids, classes, group_by='pred', title='Class centroids in logit space'):
    """Heatmap of the (G, D) centroid matrix: row g = mean logit vector of group g (blank if
    absent); ``classes`` names the G groups (and the D logits when D == G)."""
    centroids = np.asarray(centroids, dtype=np.float64)
    cols = classes if centroids.shape[1] == len(classes) else range(centroids.shape[1])
    return _heatmap(centroids, classes, cols, title, 'mean logit', cmap='RdBu_r',
                    xlabel='logit', ylabel=GROUP_LABEL[group_by],
                    **_symmetric_limits(centroids))


def plot_centroid_distances(distances, classes, title='Distances between class centroids'):
    """Heatmap of the (G, G) Euclidean centroid distances (logit units)."""
    return _heatmap(distances, classes, classes, title, 'distance (logits)', cmap='magma')


def _symmetric_limits(matrix):
    finite = np.abs(matrix[np.isfinite(matrix)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return dict(vmin=-bound, vmax=bound)


def plot_correlation_grid(correlation, classes, counts=None, title='Logit correlation per class'):
    """One (D, D) logit-correlation heatmap per group, on a grid (groups without a correlation
    are marked absent).

    Args:
        correlation (np.ndarray): (G, D, D), NaN where undefined.
        classes (Sequence[str]): the G group names.
        counts (Sequence[int], optional): pixels per group, shown in the titles.
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    groups = correlation.shape[0]
    ncols = math.ceil(math.sqrt(groups))
    nrows = math.ceil(groups / ncols)
    fig = Figure(figsize=(2.2 * ncols + 1, 2.3 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for g, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_box_aspect(1)
        if g >= groups:
            ax.set_axis_off()
            continue
        name = classes[g] if counts is None else f'{classes[g]} (n={counts[g]})'
        ax.set_title(name, fontsize=7)
        if np.isfinite(correlation[g]).any():
            image = ax.imshow(np.ma.masked_invalid(correlation[g]), cmap='RdBu_r', vmin=-1, vmax=1)
        else:
            ax.text(0.5, 0.5, 'absent', ha='center', va='center', transform=ax.transAxes)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label='correlation', shrink=0.6)
    fig.suptitle(title)
    return fig


def plot_explained_variance(curves, title='PCA of the class-centroid matrix'):
    """Cumulative explained variance against number of components, one curve per model.

    Args:
        curves (Mapping[str, Sequence[float]]): label -> cumulative explained variance (0..1).
    """
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    for label, cumulative in curves.items():
        cumulative = np.asarray(cumulative, dtype=np.float64)
        ax.plot(np.arange(1, cumulative.size + 1), cumulative, marker='o', markersize=3,
                label=label)
    ax.set_xlabel('principal components')
    ax.set_ylabel('cumulative explained variance')
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_distance_vs_miou(series, title='Distance vs mIoU across conditions'):
    """The paper's Distance against mIoU, one line (conditions sorted by Distance) per model.

    Args:
        series (Mapping[str, tuple[Sequence[float], Sequence[float]]]): label -> (Distances in
            logit units, mIoU in %), one entry per condition.
    """
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    for label, (distances, mious) in series.items():
        distances = np.asarray(distances, dtype=np.float64)
        order = np.argsort(distances)
        ax.plot(distances[order], np.asarray(mious, dtype=np.float64)[order], marker='o',
                markersize=4, linewidth=1, label=label)
    ax.set_xlabel('Distance (mean logit margin over background)')
    ax.set_ylabel('mIoU (%)')
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def write_logit_figures(metrics, classes, out_dir, label='model', group_by='pred',
                        prefix='logit/'):
    """Write the figures of one LogitStructureMetric result into ``out_dir``.

    Args:
        metrics (dict): the metric's results (keys under ``prefix``); ``correlation`` is drawn
            when present (``with_covariance=True``).
        classes (Sequence[str]): group names.
        label (str): legend entry of the explained-variance curve.

    Returns:
        list[str]: paths written: centroids.png, centroid_distances.png,
        explained_variance.png and, with correlations, correlation_grid.png.
    """
    figures = {
        'centroids.png': plot_centroids(metrics[prefix + 'centroids'], classes, group_by),
        'centroid_distances.png': plot_centroid_distances(metrics[prefix + 'centroid_distances'],
                                                          classes),
        'explained_variance.png': plot_explained_variance(
            {label: metrics[prefix + 'cumulative_explained_variance']}),
    }
    if prefix + 'correlation' in metrics:
        figures['correlation_grid.png'] = plot_correlation_grid(
            metrics[prefix + 'correlation'], classes, metrics[prefix + 'counts'])
    paths = []
    for name, fig in figures.items():
        paths.append(osp.join(out_dir, name))
        save_figure(fig, paths[-1])
    return paths
