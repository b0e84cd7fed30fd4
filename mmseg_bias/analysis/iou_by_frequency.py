"""Per-class IoU sorted by class frequency, with mIoU over the rarest classes (supp. Table C-2).

Columns: classes by increasing frequency, then mIoU and mIoU† (mean IoU over the rarest
``num_rare`` classes, marked †). Rows: the frequency, one row per model and, for each model after
the first, Δ = IoU − IoU(first) in points and Δ% = Δ / IoU(first) · 100.
"""
import os.path as osp

import numpy as np

from mmseg_bias.utils import dump_json, load_json

from .class_frequency import frequency_order, write_table

__all__ = ['per_class_iou', 'load_metrics', 'iou_by_frequency',
           'save_iou_by_frequency']


def per_class_iou(metrics, classes, source='metrics'):
    """(K,) float array of IoU in % from a metrics dict with ``IoU.<class>`` keys (NaN kept)."""
    missing = [c for c in classes if f'IoU.{c}' not in metrics]
    if missing:
        raise KeyError(f'{source} has no per-class IoU for {missing[:3]}...: evaluate with '
                       "mmseg_bias.apis.evaluate or test with --cfg-options "
                       "test_evaluator.type=ClassIoUMetric (stock IoUMetric only prints them)")
    return np.array([np.nan if metrics[f'IoU.{c}'] is None else float(metrics[f'IoU.{c}'])
                     for c in classes])


def load_metrics(path):
    """A metrics JSON with ``IoU.<class>`` keys (``mmseg_bias.apis.evaluate``; ``tools/test.py``
    with ClassIoUMetric)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'metrics file {path!r} does not exist')
    metrics = load_json(path)
    if not isinstance(metrics, dict) or not any(k.startswith('IoU.') for k in metrics):
        raise ValueError(f'{path} holds no IoU.<class> keys; write it with '
                         'mmseg_bias.apis.evaluate or tools/test.py --cfg-options '
                         'test_evaluator.type=ClassIoUMetric')
    return metrics


def _mean(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float('nan')


def _pct(delta, base):
    """100 · delta / base, NaN where base is 0 or NaN."""
    base = np.asarray(base, dtype=float)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(base > 0, 100.0 * np.asarray(delta, dtype=float) / base, np.nan)


def iou_by_frequency(results, freq, by='pixel', num_rare=None):
    """The Table C-2 layout for one or more models.

    Args:
        results (dict[str, dict]): model name -> metrics dict with ``IoU.<class>`` (in %), in
            display order; Δ rows compare every model with the first.
        freq (dict): from :func:`class_frequency` / ``class_frequency.json``.
        by (str): 'pixel' (the paper's choice on Cityscapes) or 'instance' (VOC).
        num_rare (int, optional): how many of the rarest classes mIoU† covers; default
            ⌊K/2⌋ ("the least frequent 50%"; 10 of VOC's 20 classes).

    Returns:
        dict: ``classes`` and ``frequency`` (%) sorted by increasing frequency, ``rare`` flags,
        ``models`` {name: {iou, mIoU, mIoU_rare}}, ``deltas`` {name: {delta, delta_pct, mIoU,
        mIoU_pct, mIoU_rare, mIoU_rare_pct}} against the first model.
    """
    if not results:
        raise ValueError('no results given; pass at least one metrics file or checkpoint')
    classes = list(freq['classes'])
    order = frequency_order(freq, by)
    num_rare = len(classes) // 2 if num_rare is None else int(num_rare)
    if not 0 < num_rare <= len(classes):
        raise ValueError(f'num_rare must lie in [1, {len(classes)}], got {num_rare}')
    models = {}
    for name, metrics in results.items():
        iou = per_class_iou(metrics, classes, source=f'results {name!r}')[order]
        models[name] = dict(iou=iou.tolist(), mIoU=_mean(iou), mIoU_rare=_mean(iou[:num_rare]))
    names = list(models)
    base = models[names[0]]
    deltas = {}
    for name in names[1:]:
        m = models[name]
        delta = np.asarray(m['iou']) - np.asarray(base['iou'])
        d_miou, d_rare = m['mIoU'] - base['mIoU'], m['mIoU_rare'] - base['mIoU_rare']
        deltas[name] = dict(delta=delta.tolist(), delta_pct=_pct(delta, base['iou']).tolist(),
                            mIoU=d_miou, mIoU_pct=float(_pct(d_miou, base['mIoU'])),
                            mIoU_rare=d_rare, mIoU_rare_pct=float(_pct(d_rare, base['mIoU_rare'])))
    return dict(by=by, num_rare=num_rare, classes=[classes[i] for i in order],
                frequency=[freq[f'{by}_freq'][i] for i in order],
                rare=[i < num_rare for i in range(len(classes))], models=models,
                deltas=deltas, reference=names[0])


def save_iou_by_frequency(table, out_dir, stem='iou_by_frequency'):
    """Write ``<stem>.{json,csv,md}``; returns the paths."""
    header = ['row'] + [c + ('†' if r else '') for c, r in zip(table['classes'], table['rare'])]
    header += ['mIoU', 'mIoU†']
    rows = [[f'{table["by"]} freq %'] + list(table['frequency']) + ['', '']]
    for name, m in table['models'].items():
        rows.append([name] + m['iou'] + [m['mIoU'], m['mIoU_rare']])
        if name in table['deltas']:
            d = table['deltas'][name]
            suffix = f' ({name} vs {table["reference"]})' if len(table['models']) > 2 else ''
            rows.append([f'Δ{suffix}'] + d['delta'] + [d['mIoU'], d['mIoU_rare']])
            rows.append([f'Δ (%){suffix}'] + d['delta_pct'] + [d['mIoU_pct'], d['mIoU_rare_pct']])
    path = osp.join(out_dir, stem)
    dump_json(table, f'{path}.json')
    write_table(path, header, rows, digits=1)
    return [f'{path}.json', f'{path}.csv', f'{path}.md']
