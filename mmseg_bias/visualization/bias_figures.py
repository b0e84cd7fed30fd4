"""Figures of the bias analyses (``mmseg_bias.analysis``), drawn from their plain result dicts.

Every function writes one PNG (or several) through :func:`mmseg_bias.utils.save_figure` and
returns the path(s). Figures are built with ``matplotlib.figure.Figure`` (no GUI backend needed).
"""
import os.path as osp

import numpy as np
from matplotlib.figure import Figure

from mmseg_bias.analysis.class_frequency import frequency_order
from mmseg_bias.utils import save_figure

__all__ = ['plot_class_frequency', 'plot_iou_by_frequency', 'plot_influence_matrix',
           'plot_erasure_test', 'plot_similarity_matrix', 'plot_similarity_vs_frequency',
           'save_prediction_panels']


def _heatmap(fig, ax, matrix, labels_y, labels_x, cmap, vmin, vmax, label, fmt='{:.0f}'):
    matrix = np.asarray(matrix, dtype=float)
    im = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(labels_x)), labels_x, rotation=90)
    ax.set_yticks(range(len(labels_y)), labels_y)
    fig.colorbar(im, ax=ax, label=label, fraction=0.046, pad=0.04)
    if max(matrix.shape) <= 25:
        for (i, j), v in np.ndenumerate(matrix):
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha='center', va='center', fontsize=6)


def plot_class_frequency(freq, path, by='pixel'):
    """Bar chart (log scale) of the ``by`` frequency, classes by increasing frequency (classes
    that never occur get no bar)."""
    values = np.asarray(freq[f'{by}_freq'], dtype=float)
    order = frequency_order(freq, by)
    fig = Figure(figsize=(6, 0.25 * len(order) + 1.2))
    ax = fig.add_subplot()
    shown = np.where(values[order] > 0, values[order], np.nan)
    ax.barh(range(len(order)), shown, color='tab:blue')
    ax.set_yticks(range(len(order)), [freq['classes'][i] for i in order])
    ax.set_xscale('log')
    if (values > 0).any():
        ax.set_xlim(left=values[values > 0].min() / 3)
    ax.set_xlabel(f'{by} frequency (%)')
    ax.set_title(f'class frequency ({freq.get("split", "train")}, {freq["num_images"]} images)')
    save_figure(fig, path)
    return path


def plot_iou_by_frequency(table, path):
    """Per-class IoU of each model, classes by increasing frequency (rarest half shaded)."""
    classes, k = table['classes'], len(table['classes'])
    fig = Figure(figsize=(max(6, 0.45 * k + 2), 4))
    ax = fig.add_subplot()
    ax.axvspan(-0.5, table['num_rare'] - 0.5, color='0.92',
               label=f'rarest {table["num_rare"]} (†)')
    for name, m in table['models'].items():
        ax.plot(range(k), m['iou'], marker='o', label=f'{name} (mIoU {m["mIoU"]:.1f}, '
                                                      f'mIoU† {m["mIoU_rare"]:.1f})')
    ax.set_xticks(range(k), classes, rotation=90)
    ax.set_ylabel('IoU (%)')
    ax.set_ylim(0, 100)
    twin = ax.twinx()
    twin.plot(range(k), table['frequency'], color='0.4', linestyle=':', label='frequency')
    twin.set_yscale('log')
    twin.set_ylabel(f'{table["by"]} frequency (%)')
    ax.legend(fontsize=7, loc='upper left')
    save_figure(fig, path)
    return path


def plot_influence_matrix(matrix, path, title='influence'):
    """Heatmap: rows = affected class, columns = erased class, centred at 0."""
    influence = np.asarray(matrix['influence'], dtype=float)
    vmax = float(np.nanmax(np.abs(influence))) if np.isfinite(influence).any() else 1.0
    k = len(matrix['classes'])
    fig = Figure(figsize=(0.4 * k + 3, 0.4 * k + 2))
    ax = fig.add_subplot()
    unit = 'IoU drop (points)' if matrix['score'] == 'drop' else 'IoU drop (% of clean IoU)'
    _heatmap(fig, ax, influence, matrix['classes'], matrix['classes'], 'RdBu_r', -vmax or -1,
             vmax or 1, unit)
    ax.set_xlabel('erased class')
    ax.set_ylabel('affected class')
    ax.set_title(title)
    save_figure(fig, path)
    return path


def plot_erasure_test(test, path):
    """Grouped bars of Δ = IoU(I*) − IoU(I) per class, most vulnerable first, per model."""
    classes, names = test['classes'], list(test['models'])
    fig = Figure(figsize=(max(6, 0.45 * len(classes) + 2), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        entry = test['models'][name]
        ax.bar(np.arange(len(classes)) + (i - (len(names) - 1) / 2) * width, entry['delta'], width,
               label=f'{name}: mIoU {entry["mIoU_I"]:.1f}→{entry["mIoU_I*"]:.1f}, '
                     f'mIoU* {entry["mIoU*_I"]:.1f}→{entry["mIoU*_I*"]:.1f}')
    ax.axhline(0, color='k', linewidth=0.5)
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_ylabel('Δ IoU, I* − I (points)')
    excluded = ', '.join(test['excluded']) or 'each class\'s top influencers'
    ax.set_title(f'I vs I* (erased: {excluded})')
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return path


def plot_similarity_matrix(result, path):
    """Cosine-similarity heatmap of classifier weights, classes by increasing frequency."""
    k = len(result['classes'])
    fig = Figure(figsize=(0.4 * k + 3, 0.4 * k + 2))
    ax = fig.add_subplot()
    _heatmap(fig, ax, result['similarity'], result['classes'], result['classes'], 'RdBu_r', -1, 1,
             'cosine similarity', fmt='{:.2f}' if k <= 12 else '{:.1f}')
    ax.set_title(f'classifier weight similarity (rarest first, {result["by"]} frequency)')
    save_figure(fig, path)
    return path


def plot_similarity_vs_frequency(result, path):
    """Scatter: class frequency (log) vs mean cosine similarity to the other classes."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    freq = np.maximum(np.asarray(result['frequency'], float), 1e-6)
    ax.scatter(freq, result['mean_similarity'])
    for f, s, c in zip(freq, result['mean_similarity'], result['classes']):
        ax.annotate(c, (f, s), fontsize=6, xytext=(2, 2), textcoords='offset points')
    ax.set_xscale('log')
    ax.set_xlabel(f'{result["by"]} frequency (%)')
    ax.set_ylabel('mean cosine similarity to other classes')
    ax.set_title(f'Spearman ρ = {result["spearman"]:.2f}')
    save_figure(fig, path)
    return path


def _colour(label, palette):
    palette = np.asarray(palette, dtype=np.uint8)
    out = np.zeros(label.shape + (3,), np.uint8)
    valid = label < len(palette)
    out[valid] = palette[label[valid]]
    return out


def save_prediction_panels(samples, palette, out_dir, dropped_class, prefix='qualitative'):
    """One PNG per sample: image, ground truth, normal prediction, prediction of h' (z dropped).

    Args:
        samples (list[dict]): ``image`` (H, W, 3) RGB, ``gt``/``normal``/``dropped`` (H, W).
        palette (Sequence[Sequence[int]]): RGB colour per class (ignore drawn black).
    """
    paths = []
    titles = ('image', 'ground truth', 'normal model', f"h' ({dropped_class} dropped)")
    for i, s in enumerate(samples):
        fig = Figure(figsize=(12, 3))
        panels = (s['image'], _colour(s['gt'], palette), _colour(s['normal'], palette),
                  _colour(s['dropped'], palette))
        for j, (img, title) in enumerate(zip(panels, titles)):
            ax = fig.add_subplot(1, 4, j + 1)
            ax.imshow(img)
            ax.set_title(title, fontsize=8)
            ax.axis('off')
        path = osp.join(out_dir, f'{prefix}_{i}.png')
        save_figure(fig, path)
        paths.append(path)
    return paths
