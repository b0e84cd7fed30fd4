"""Figures of the Texture-MNIST context-bias benchmark (grid saliency supp. Figs. S1, S4, S6,
S10, S11), drawn from the benchmark's plain result dicts and arrays.

Every function writes one PNG through :func:`mmseg_bias.utils.save_figure` and returns its path.
"""
import numpy as np
from matplotlib.figure import Figure

from mmseg_bias.utils import save_figure

__all__ = ['plot_dataset_samples', 'plot_iou_drop_matrix', 'plot_cbd_matrix', 'plot_cbl_bars',
           'plot_grid_sweep', 'plot_saliency_examples', 'PAPER_CBL']

# CBL read from the paper's poster bar chart (strong / weak bias).
PAPER_CBL = {'strong': dict(grid=0.95, ig=0.61, vg=0.50, sg=0.45),
             'weak': dict(grid=0.89, ig=0.55, vg=0.48, sg=0.45)}
METHOD_NAMES = dict(grid='grid saliency', ig='IG', vg='VG', sg='SG')


def _heatmap(fig, ax, matrix, rows, cols, cmap, vmin, vmax, label, fmt='{:.2f}'):
    matrix = np.asarray(matrix, float)
    im = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax, aspect='auto')
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha='right')
    ax.set_yticks(range(len(rows)), rows)
    fig.colorbar(im, ax=ax, label=label, fraction=0.046, pad=0.04)
    for (i, j), v in np.ndenumerate(matrix):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha='center', va='center', fontsize=7)


def plot_dataset_samples(images, labels, path, titles=None, columns=8):
    """A grid of samples (Fig. S1): grey images (N, H, W) uint8 and their label maps (N, H, W)
    drawn as digit contours."""
    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    fig = Figure(figsize=(1.4 * columns, 1.5 * rows))
    for i in range(n):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(images[i], cmap='gray', vmin=0, vmax=255)
        ax.contour(np.asarray(labels[i]) > 0, levels=[0.5], colors='r', linewidths=0.6)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
        ax.axis('off')
    save_figure(fig, path)
    return path


def plot_iou_drop_matrix(matrix, digits, textures, path, title='IoU drop of the biased digit'):
    """Fig. S4a: rows = biased digit, columns = bias texture; the biased digit's IoU drop on the
    unbiased test set (unbiased model − biased model, 0-1)."""
    fig = Figure(figsize=(1.1 * len(textures) + 2.5, 0.45 * len(digits) + 1.8))
    ax = fig.add_subplot()
    _heatmap(fig, ax, matrix, [str(d) for d in digits], list(textures), 'Reds', 0, 1,
             'IoU drop')
    ax.set_xlabel('bias texture')
    ax.set_ylabel('biased digit')
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)
    return path


def plot_cbd_matrix(matrix, rows, columns, path, title='CBD'):
    """Figs. S4b-e: rows = the model's biased digit ('unbiased' for the unbiased model), columns
    = the explained test digit; values = mean CBD."""
    matrix = np.asarray(matrix, float)
    vmax = float(np.nanmax(matrix)) if np.isfinite(matrix).any() else 1.0
    fig = Figure(figsize=(0.55 * len(columns) + 2.5, 0.45 * len(rows) + 1.8))
    ax = fig.add_subplot()
    _heatmap(fig, ax, matrix, [str(r) for r in rows], [str(c) for c in columns], 'viridis', 0,
             vmax or 1.0, 'CBD')
    ax.set_xlabel('test digit')
    ax.set_ylabel('biased digit of the model')
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)
    return path


def plot_cbl_bars(cbl, path, strength='strong', title='context bias localisation'):
    """Figs. S6 / S10: mean CBL per method with error bars (std over runs), beside the paper's.

    Args:
        cbl (dict): method -> dict(mean=..., std=...).
        strength (str): which paper values to show ('strong' | 'weak'; None = none).
    """
    methods = list(cbl)
    paper = PAPER_CBL.get(strength, {}) if strength else {}
    x = np.arange(len(methods))
    fig = Figure(figsize=(1.1 * len(methods) + 2, 3.2))
    ax = fig.add_subplot()
    width = 0.38 if paper else 0.6
    means = [cbl[m]['mean'] for m in methods]
    stds = [cbl[m].get('std', 0.0) for m in methods]
    ax.bar(x - (width / 2 if paper else 0), means, width, yerr=stds, capsize=3,
           label='this benchmark', color='tab:blue')
    if paper:
        ax.bar(x + width / 2, [paper.get(m, np.nan) for m in methods], width,
               label=f'paper ({strength} bias)', color='0.7')
    ax.axhline(0.5, color='k', linestyle=':', linewidth=0.8)
    ax.set_xticks(x, [METHOD_NAMES.get(m, m) for m in methods])
    ax.set_ylim(0, 1)
    ax.set_ylabel('CBL')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return path


def plot_grid_sweep(sweep, path, defaults=None):
    """Fig. S11: for each swept grid-saliency parameter (columns), mean CBD of biased and
    unbiased digits (top) and mean CBL (bottom); the default setting marked red.

    Args:
        sweep (dict): parameter -> list of dict(value, cbd_biased, cbd_unbiased, cbd_gap, cbl).
        defaults (dict, optional): parameter -> default value.
    """
    params = list(sweep)
    fig = Figure(figsize=(3.2 * len(params), 5))
    for j, p in enumerate(params):
        rows = sorted(sweep[p], key=lambda r: r['value'])
        v = [r['value'] for r in rows]
        top = fig.add_subplot(2, len(params), j + 1)
        top.plot(v, [r['cbd_biased'] for r in rows], 'o-', label='biased digit')
        top.plot(v, [r['cbd_unbiased'] for r in rows], 's--', label='other digits')
        bottom = fig.add_subplot(2, len(params), len(params) + j + 1)
        bottom.plot(v, [r['cbl'] for r in rows], 'o-', color='tab:green')
        if defaults and p in defaults:
            for ax, key in ((top, 'cbd_biased'), (bottom, 'cbl')):
                d = [r for r in rows if r['value'] == defaults[p]]
                if d:
                    ax.plot([defaults[p]], [d[0][key]], 'o', color='red', zorder=5)
        if p in ('lam', 'lr'):
            top.set_xscale('log')
            bottom.set_xscale('log')
        top.set_title(p, fontsize=9)
        top.set_ylabel('mCBD')
        bottom.set_ylabel('mCBL')
        bottom.set_xlabel(p)
        bottom.set_ylim(0, 1)
        if j == 0:
            top.legend(fontsize=7)
    save_figure(fig, path)
    return path


def plot_saliency_examples(image, request, bias_mask, maps, path, title=None):
    """One biased-digit image: the image with its request (red) and bias tile (blue) outlines,
    then each method's context saliency map.

    Args:
        image (np.ndarray): (H, W) grey uint8.
        request, bias_mask (np.ndarray): (H, W) bool.
        maps (dict): method -> (H, W) saliency.
    """
    fig = Figure(figsize=(2.0 * (len(maps) + 1), 2.3))
    ax = fig.add_subplot(1, len(maps) + 1, 1)
    ax.imshow(image, cmap='gray', vmin=0, vmax=255)
    ax.contour(request, levels=[0.5], colors='r', linewidths=0.8)
    if np.any(bias_mask):
        ax.contour(bias_mask, levels=[0.5], colors='b', linewidths=0.8)
    ax.set_title(title or 'image', fontsize=8)
    ax.axis('off')
    for k, (method, m) in enumerate(maps.items()):
        ax = fig.add_subplot(1, len(maps) + 1, k + 2)
        m = np.asarray(m, float)
        ax.imshow(m / m.max() if m.max() > 0 else m, cmap='hot', vmin=0, vmax=1)
        ax.contour(request, levels=[0.5], colors='c', linewidths=0.5)
        ax.set_title(METHOD_NAMES.get(method, method), fontsize=8)
        ax.axis('off')
    save_figure(fig, path)
    return path
