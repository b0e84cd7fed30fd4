"""Figures of context explanations (``mmseg_bias.saliency``): overlays and context statistics.

Every function writes PNGs through :func:`mmseg_bias.utils.save_figure` and returns the path(s);
figures are built with ``matplotlib.figure.Figure`` (no GUI backend needed).
"""
import os.path as osp

import numpy as np
from matplotlib.figure import Figure

from mmseg_bias.analysis.bias_vulnerability import safe_name
from mmseg_bias.saliency.context_stats import row_name
from mmseg_bias.utils import save_figure

__all__ = ['plot_saliency_overlay', 'save_saliency_overlays', 'plot_context_statistics']


def _contour(ax, mask, colour):
    if mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2)


def plot_saliency_overlay(image, mask, saliency, path, title=None, label='saliency'):
    """Three panels: the image; the request (tinted, outlined); the saliency as a heat map over
    the dimmed image, the request outlined.

    Args:
        image (np.ndarray): RGB uint8 (H, W, 3).
        mask (np.ndarray): bool (H, W) request.
        saliency (np.ndarray): float (H, W); grid saliency lies in [0, 1], gradient maps are
            scaled by their maximum.
        title (str, optional): figure title (request class, loss, ...).
    """
    image, mask = np.asarray(image), np.asarray(mask, bool)
    saliency = np.asarray(saliency, float)
    vmax = 1.0 if saliency.max() <= 1.0 else float(saliency.max())
    h, w = mask.shape
    fig = Figure(figsize=(3 * 3.2 * min(w / h, 2.5) + 0.8, 3.4))
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    axes[0].imshow(image)
    axes[0].set_title('image', fontsize=9)
    tint = image.astype(float) / 255
    tint[mask] = 0.5 * tint[mask] + 0.5 * np.array([0.0, 1.0, 1.0])
    axes[1].imshow(tint)
    _contour(axes[1], mask, 'cyan')
    axes[1].set_title(f'request ({int(mask.sum())} px)', fontsize=9)
    axes[2].imshow(image.mean(-1), cmap='gray', alpha=0.6)
    heat = axes[2].imshow(np.ma.masked_where(saliency <= 0, saliency), cmap='jet', vmin=0,
                          vmax=vmax, alpha=0.6)
    _contour(axes[2], mask, 'white')
    axes[2].set_title(label, fontsize=9)
    fig.colorbar(heat, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.axis('off')
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
    return path


def save_saliency_overlays(record, out_dir, class_names, skip_existing=True):
    """One overlay per request of a record (:func:`mmseg_bias.saliency.load_record`) as
    ``<out_dir>/<name>_<j>_<request>.png``; returns the paths (existing ones kept)."""
    paths = []
    for j, q in enumerate(record['requests']):
        request = row_name(q['key'], class_names)
        path = osp.join(out_dir, f"{record['name']}_{j}_{safe_name(request)}.png")
        paths.append(path)
        if skip_existing and osp.isfile(path):
            continue
        if 'preservation_loss' in q:
            state = 'valid' if q['valid'] else 'invalid'
            title = (f"{request}: preservation loss {q['preservation_loss']:.3f} ({state}), "
                     f"context area {q['area']:.3f}"
                     + (', empty mask won' if q['empty_mask_won'] else ''))
            label = f"grid saliency (perturbation {q['perturbation']})"
        else:
            title, label = f"{request}: {q['method'].upper()}, score {q['score']:.3f}", \
                f"{q['method'].upper()} context saliency"
        plot_saliency_overlay(record['image'], record['masks'][j], record['saliency'][j], path,
                              title=title, label=label)
    return paths


def plot_context_statistics(stats, out_dir, context_classes=None, prefix='context',
                            method='grid saliency'):
    """Heatmaps ``<prefix>_saliency.png``, ``<prefix>_baseline.png`` and ``<prefix>_difference.png``
    (rows: request classes, columns: context classes, values: share of context in %).

    Args:
        stats (dict): from :func:`mmseg_bias.saliency.context_statistics`.
        context_classes (Sequence[str], optional): columns shown (paper: a subset, so rows need
            not sum to 100); default all classes.
        method (str): name of the saliency method in the first heatmap's title.
    """
    columns = list(context_classes) if context_classes else list(stats['classes'])
    missing = [c for c in columns if c not in stats['classes']]
    if missing:
        raise ValueError(f'unknown context classes {missing}; choose among {stats["classes"]}')
    idx = [stats['classes'].index(c) for c in columns]
    rows = [f'{n} ({s})' for n, s in zip(stats['row_names'], stats['samples'])]
    paths = []
    for kind, cmap, centred in (('saliency', 'viridis', False), ('baseline', 'viridis', False),
                                ('difference', 'RdBu_r', True)):
        matrix = 100 * np.asarray(stats[kind], float).reshape(len(rows), -1)[:, idx]
        finite = matrix[np.isfinite(matrix)]
        vmax = float(np.abs(finite).max()) if finite.size else 1.0
        fig = Figure(figsize=(0.45 * len(columns) + 3, 0.4 * max(len(rows), 1) + 2))
        ax = fig.add_subplot()
        im = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, aspect='auto',
                       vmin=-vmax if centred else 0, vmax=vmax or 1)
        ax.set_xticks(range(len(columns)), columns, rotation=90)
        ax.set_yticks(range(len(rows)), rows)
        if matrix.size <= 400:
            for (i, j), v in np.ndenumerate(matrix):
                if np.isfinite(v):
                    ax.text(j, i, f'{v:.0f}', ha='center', va='center', fontsize=6)
        fig.colorbar(im, ax=ax, label='share of context (%)' if not centred else
                     'saliency − baseline (points)', fraction=0.046, pad=0.04)
        ax.set_xlabel(f'context class ({stats["labels"]} labels)')
        ax.set_ylabel('request (used samples)')
        ax.set_title({'saliency': method, 'baseline': 'dilation baseline',
                      'difference': f'{method} − baseline'}[kind])
        path = osp.join(out_dir, f'{prefix}_{kind}.png')
        save_figure(fig, path)
        paths.append(path)
    return paths
