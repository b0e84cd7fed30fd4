"""Dataset-level context statistics of saliency maps (grid saliency supp. §S2, Fig. 6 / S14).

For each request class (or (ground-truth, predicted) pair in error mode), the share of the salient
context falling on each context class, against the dilation baseline — the same number of pixels
nearest to the request (a fixed budget shared by all its instances) — and their difference.
Sample-count tables (supp. Tables S1 / S2) list, per request class, how many images pass each
filter: the class is present, a component survives the size filter, the saliency is not empty, it
is valid (preservation loss <= 0.1), and both (used).

Choices the paper leaves open are options: saliency mass (M-weighted, default) or binary (M > 0)
counting; per-request shares averaged over requests (default) or pooled over all pixels; context
labels from the ground truth (default) or the prediction. Pixels labelled ``ignore_index`` are
left out of every share. Only used requests (non-empty and valid) enter the heatmaps, the baseline
included.
"""
import os.path as osp

import numpy as np
from scipy import ndimage

from mmseg_bias.analysis.class_frequency import write_table
from mmseg_bias.utils import dump_csv, dump_json

__all__ = ['dilation_baseline', 'class_shares', 'context_statistics', 'save_context_statistics',
           'row_name', 'DILATION_AREA', 'COUNT_COLUMNS']

# 400k pixels at Cityscapes' 1024 x 2048, as a fraction of the image area
DILATION_AREA = 400_000 / (1024 * 2048)
COUNT_COLUMNS = ('present', 'size_ok', 'non_empty', 'valid', 'used')


def dilation_baseline(mask, pixels):
    """The ``pixels`` context pixels nearest (Euclidean) to the request: a dilation of its
    contours whose budget is shared by all its instances; ties in raster order.

    Args:
        mask (np.ndarray): bool (H, W) request.
        pixels (int): budget (paper: 400k at 1024x2048).

    Returns:
        np.ndarray: bool (H, W), disjoint from ``mask``.
    """
    mask = np.asarray(mask, bool)
    out = np.zeros(mask.shape, bool)
    if not mask.any() or pixels <= 0:
        return out
    distance = ndimage.distance_transform_edt(~mask).ravel()
    context = np.flatnonzero(~mask.ravel())
    order = context[np.argsort(distance[context], kind='stable')[:int(pixels)]]
    out.ravel()[order] = True
    return out


def class_shares(weights, labels, num_classes, ignore_index=255):
    """(K,) share of the total weight on each class; NaN where there is no weight.

    Args:
        weights (np.ndarray): float (H, W) weights (saliency mass, or 0/1).
        labels (np.ndarray): int (H, W) class indices.
    """
    labels = np.asarray(labels)
    keep = (labels != ignore_index) & (labels >= 0) & (labels < num_classes) & (weights > 0)
    mass = np.bincount(labels[keep].astype(np.int64), weights=weights[keep].astype(np.float64),
                       minlength=num_classes)
    total = mass.sum()
    return mass / total if total > 0 else np.full(num_classes, np.nan)


def row_name(key, names):
    """'car' for a class key, 'rider→person' for a (gt, prediction) pair."""
    if isinstance(key, (tuple, list)):
        return f'{names[key[0]]}→{names[key[1]]}'
    return names[key]


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def context_statistics(records, num_classes, class_names=None, labels='gt',
                       dilation_area=DILATION_AREA, weighting='mass', average='request',
                       ignore_index=255):
    """Context-class histograms of the saliency vs the dilation baseline, and sample counts.

    Args:
        records (Iterable[dict]): per image, as :func:`mmseg_bias.saliency.explain.load_record`
            gives them: ``present`` (request keys present), ``requests`` (diagnostics with
            ``key``, ``valid``, ``empty``) and, when it has requests, the arrays ``saliency``
            (R, H, W), ``masks`` (R, H, W) and the label map named by ``labels``.
        num_classes (int): K.
        class_names (Sequence[str], optional): for row / column names (default indices).
        labels (str): context classes from 'gt' (paper's Fig. 6) or 'pred'.
        dilation_area (float): baseline budget as a fraction of the image area (paper: 400k of
            1024x2048 pixels, ≈ 0.19).
        weighting (str): 'mass' (each context pixel weighs its saliency) or 'binary' (M > 0).
        average (str): 'request' (mean of per-request shares) or 'pooled' (all mass summed).

    Returns:
        dict: ``rows`` (keys), ``row_names``, ``classes`` (column names), ``saliency``,
        ``baseline``, ``difference`` (rows x K, NaN for rows without samples), ``samples`` (used
        requests per row), ``counts`` {row name: {present, size_ok, non_empty, valid, used}}
        (images), and the options.
    """
    if labels not in ('gt', 'pred') or weighting not in ('mass', 'binary') or \
            average not in ('request', 'pooled'):
        raise ValueError("labels must be 'gt'|'pred', weighting 'mass'|'binary', average "
                         "'request'|'pooled'")
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    sums = {}    # key -> [saliency sum (K,), baseline sum (K,), saliency n, baseline n]
    counts = {}  # key -> column -> images
    for record in records:
        flags = {_key(k): {'present'} for k in record['present']}
        for i, q in enumerate(record['requests']):
            key = _key(q['key'])
            passed = flags.setdefault(key, {'present'})
            passed.add('size_ok')
            if not q['empty']:
                passed.add('non_empty')
            if q['valid']:
                passed.add('valid')
            if q['empty'] or not q['valid']:
                continue
            passed.add('used')
            if labels not in record:
                raise KeyError(f"record {record.get('name')} has no '{labels}' label map; use "
                               "labels='pred' for images without annotations")
            label, mask = record[labels], record['masks'][i]
            weight = np.where(mask, 0.0, record['saliency'][i])
            if weighting == 'binary':
                weight = (weight > 0).astype(np.float64)
            ring = dilation_baseline(mask, int(round(dilation_area * mask.size)))
            entry = sums.setdefault(key, [np.zeros(num_classes), np.zeros(num_classes), 0, 0])
            for j, w in enumerate((weight, ring.astype(np.float64))):
                shares = class_shares(w, label, num_classes, ignore_index)
                if np.isnan(shares).any():
                    continue
                if average == 'pooled':
                    shares = shares * float(w[(label != ignore_index) & (w > 0)].sum())
                entry[j] += shares
                entry[2 + j] += 1
        for key, passed in flags.items():
            row = counts.setdefault(key, dict.fromkeys(COUNT_COLUMNS, 0))
            for column in passed:
                row[column] += 1
    rows = sorted(set(counts) | set(sums), key=lambda k: (isinstance(k, tuple), k))
    sal = np.full((len(rows), num_classes), np.nan)
    base = np.full((len(rows), num_classes), np.nan)
    samples = []
    for r, key in enumerate(rows):
        s, b, n_s, n_b = sums.get(key, (None, None, 0, 0))
        samples.append(n_s)
        if n_s:
            sal[r] = s / (s.sum() if average == 'pooled' else n_s)
        if n_b:
            base[r] = b / (b.sum() if average == 'pooled' else n_b)
    row_names = [row_name(k, names) for k in rows]
    return dict(rows=[list(k) if isinstance(k, tuple) else k for k in rows], row_names=row_names,
                classes=names, saliency=sal, baseline=base, difference=sal - base,
                samples=samples, counts={row_names[r]: counts.get(k, dict.fromkeys(COUNT_COLUMNS, 0))
                                         for r, k in enumerate(rows)},
                labels=labels, weighting=weighting, average=average, dilation_area=dilation_area)


def save_context_statistics(stats, out_dir):
    """Write ``context_statistics.{json,csv}`` (rows: request x kind, columns: context classes)
    and ``sample_counts.{csv,md}``; returns the paths."""
    rows = []
    for kind in ('saliency', 'baseline', 'difference'):
        for r, name in enumerate(stats['row_names']):
            rows.append([name, kind, stats['samples'][r]] + list(stats[kind][r]))
    csv_path = osp.join(out_dir, 'context_statistics.csv')
    dump_csv(rows, csv_path, header=['request', 'kind', 'samples'] + stats['classes'])
    header = ['request'] + [f'images_{c}' for c in COUNT_COLUMNS] + ['requests_used']
    table = [[name] + [stats['counts'][name][c] for c in COUNT_COLUMNS] + [stats['samples'][r]]
             for r, name in enumerate(stats['row_names'])]
    stem = osp.join(out_dir, 'sample_counts')
    write_table(stem, header, table)
    json_path = osp.join(out_dir, 'context_statistics.json')
    dump_json(stats, json_path)
    return [csv_path, f'{stem}.csv', f'{stem}.md', json_path]
