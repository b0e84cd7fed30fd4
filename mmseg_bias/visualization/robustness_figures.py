"""Figures of the corruption benchmark: mIoU vs severity, model comparison, corruption gallery."""
import math

import numpy as np
from matplotlib.figure import Figure

from ..utils import save_figure

__all__ = ['plot_severity_curves', 'plot_robustness_comparison', 'plot_corruption_gallery']


def _subplots(nrows=1, ncols=1, figsize=None, **kwargs):
    """A Figure not attached to pyplot (no backend state) and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_severity_curves(summaries, path, ncols=5):
    """One panel per corruption: metric vs severity (0 = clean), one line per model.

    Args:
        summaries (dict[str, dict]): model label -> ``summarize(...)`` output.
        path (str): PNG to write.
    """
    corruptions = list(dict.fromkeys(c for s in summaries.values() for c in s['per_severity']))
    if not corruptions:
        raise ValueError('no corrupted conditions to plot; evaluate at least one severity > 0')
    nrows = math.ceil(len(corruptions) / ncols)
    fig, axes = _subplots(nrows, min(ncols, len(corruptions)), squeeze=False,
                          figsize=(3 * min(ncols, len(corruptions)), 2.6 * nrows), sharey=True)
    for ax, corruption in zip(axes.flat, corruptions):
        for label, summary in summaries.items():
            curve = summary['per_severity'].get(corruption, {})
            points = sorted((int(k), v) for k, v in curve.items())
            if summary['P'] is not None:
                points = [(0, summary['P'])] + points
            if points:
                ax.plot(*zip(*points), marker='o', label=label)
        ax.set_title(corruption.replace('_', ' '), fontsize=9)
        ax.set_xticks(range(6))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(corruptions):]:
        ax.axis('off')
    metric = next(iter(summaries.values()))['metric']
    for ax in axes[:, 0]:
        ax.set_ylabel(f'{metric} (%)')
    for ax in axes[-1]:
        ax.set_xlabel('severity')
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f'{metric} under corruption (severity 0 = clean)', y=1.02)
    save_figure(fig, path)


def plot_robustness_comparison(summaries, path):
    """Grouped bars per model: P, mPC and the per-category means; rPC in the legend."""
    groups = ['P', 'mPC'] + sorted({c for s in summaries.values() for c in s['per_category']})
    width = 0.8 / len(summaries)
    fig, ax = _subplots(figsize=(1.2 * len(groups) + 2, 3.5))
    for i, (label, summary) in enumerate(summaries.items()):
        values = [summary.get(g) if g in ('P', 'mPC') else summary['per_category'].get(g)
                  for g in groups]
        rpc = summary.get('rPC')
        name = f'{label} (rPC {rpc:.3f})' if rpc is not None else label
        ax.bar(np.arange(len(groups)) + i * width, [np.nan if v is None else v for v in values],
               width, label=name)
    ax.set_xticks(np.arange(len(groups)) + width * (len(summaries) - 1) / 2)
    ax.set_xticklabels(groups)
    ax.set_ylabel(f'{next(iter(summaries.values()))["metric"]} (%)')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    save_figure(fig, path)


def plot_corruption_gallery(image_bgr, corruptions, severities, path, seed=0):
    """One image under every corruption (rows) and severity (columns, 0 = clean)."""
    from ..datasets.transforms.corruption import ImageCorruption
    aspect = image_bgr.shape[0] / image_bgr.shape[1]
    fig, axes = _subplots(len(corruptions), len(severities), squeeze=False,
                          figsize=(2 * len(severities), (2 * aspect + 0.3) * len(corruptions)))
    for row, corruption in zip(axes, corruptions):
        for ax, severity in zip(row, severities):
            img = image_bgr if severity == 0 else ImageCorruption(corruption, severity, seed)(
                dict(img=image_bgr.copy(), img_path='gallery'))['img']
            ax.imshow(img[..., ::-1])
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(corruption.replace('_', ' '), fontsize=8)
    for ax, severity in zip(axes[0], severities):
        ax.set_title('clean' if severity == 0 else f'severity {severity}', fontsize=8)
    save_figure(fig, path)
