"""Corruption robustness benchmark: evaluate a model under ImageNet-C conditions, resumably.

Metrics as in MMDetection's robustness benchmark: P = clean score, mPC = mean over the evaluated
benchmark corruptions x severities 1-5, rPC = mPC / P. Every condition's result is one JSON file
written atomically as soon as it is computed, so an interrupted run resumes where it stopped.
"""
import os
import os.path as osp

import numpy as np
from mmengine.dist import is_main_process
from mmengine.logging import print_log

from ..datasets.transforms.corruption import (BENCHMARK_CORRUPTIONS, CORRUPTION_CATEGORIES,
                                              category_of)
from ..utils import dump_csv, dump_json, load_json
from .evaluate import evaluate_conditions

__all__ = ['benchmark_conditions', 'condition_key', 'summarize', 'run_robustness']


def benchmark_conditions(corruptions, severities):
    """[(corruption, severity)], with ('clean', 0) first if severity 0 is asked for."""
    if any(s not in range(6) for s in severities):
        raise ValueError(f'severities must lie in 0-5 (0 = clean), got {list(severities)}')
    conditions = [('clean', 0)] if 0 in severities else []
    return conditions + [(c, s) for c in corruptions for s in sorted(set(severities)) if s > 0]


def condition_key(corruption, severity):
    """File stem of a condition: 'clean' or '<corruption>-<severity>'."""
    return 'clean' if severity == 0 else f'{corruption}-{severity}'


def summarize(results, metric='mIoU'):
    """P, mPC, rPC and per-category / per-corruption means from {condition key: metrics}.

    Args:
        results (dict[str, dict]): metrics per condition key (see :func:`condition_key`).
        metric (str): which metric to summarise, e.g. 'mIoU' or 'aAcc' (%).

    Returns:
        dict: ``P`` (None without a clean run), ``mPC`` over the benchmark corruptions present,
        ``rPC`` (None without P), ``per_category`` and ``per_corruption`` means over severities,
        and ``per_severity`` {corruption: {severity: value}}.
    """
    per_severity = {}
    for key, metrics in results.items():
        if key == 'clean':
            continue
        corruption, severity = key.rsplit('-', 1)
        per_severity.setdefault(corruption, {})[int(severity)] = float(metrics[metric])
    per_corruption = {c: float(np.mean(list(v.values()))) for c, v in per_severity.items()}
    benchmark = [v for c, sev in per_severity.items() if c in BENCHMARK_CORRUPTIONS
                 for v in sev.values()]
    clean = float(results['clean'][metric]) if 'clean' in results else None
    mpc = float(np.mean(benchmark)) if benchmark else None
    per_category = {}
    for category in list(CORRUPTION_CATEGORIES) + ['extra']:
        values = [v for c, sev in per_severity.items() if category_of(c) == category
                  for v in sev.values()]
        if values:
            per_category[category] = float(np.mean(values))
    return dict(metric=metric, P=clean, mPC=mpc,
                rPC=mpc / clean if clean and mpc is not None else None,
                per_category=per_category, per_corruption=per_corruption,
                per_severity=per_severity)


def run_robustness(model, out_dir, corruptions, severities, resume=False,
                   after='LoadImageFromFile', seed=0, cache_root=None, extra_metrics=(),
                   dataloader=None, progress=True):
    """Evaluate ``model`` under every condition; write results into ``out_dir``; return the summary.

    All conditions run as one pass of one dataloader (:func:`evaluate_conditions`), so its workers
    corrupt the next images while the model runs; each condition's JSON is written as soon as its
    last image is done.

    Args:
        model (nn.Module): a segmentor from ``mmseg_bias.apis.init_segmentor``.
        out_dir (str): gets ``conditions/<key>.json`` (mIoU, aAcc, mAcc, per-class IoU, %),
            ``results.csv`` and ``summary.json`` (figures: ``mmseg_bias.visualization``).
        corruptions (list[str]): corruption names (see ``resolve_corruptions``).
        severities (list[int]): 0 (clean) to 5.
        resume (bool): reuse finished conditions found in ``out_dir``; without it an ``out_dir``
            that already holds results is refused.
        after (str): pipeline step after which the corruption is applied: 'LoadImageFromFile'
            (original resolution, the default) or 'Resize'.
        seed (int): corruption seed (see ``ImageCorruption``).
        cache_root (str, optional): corruption cache to read precomputed images from.
        extra_metrics (Sequence[dict]): more metrics per condition, e.g.
            ``[dict(type='LogitStructureMetric')]`` (their results join the condition's JSON).
        dataloader (dict, optional): test dataloader config; default ``model.cfg.test_dataloader``.
        progress (bool): show a progress bar over the whole sweep.
    """
    cond_dir = osp.join(out_dir, 'conditions')
    if not resume and osp.isdir(cond_dir) and os.listdir(cond_dir):
        raise FileExistsError(f'{out_dir} already holds robustness results; pass --resume to continue '
                              'that run or choose another --out')
    results, todo = {}, []
    for corruption, severity in benchmark_conditions(corruptions, severities):
        key = condition_key(corruption, severity)
        path = osp.join(cond_dir, f'{key}.json')
        if resume and osp.isfile(path):
            results[key] = load_json(path)
        else:
            todo.append((corruption, severity))
    transforms = [[] if severity == 0 else [
        dict(type='ImageCorruption', corruption=corruption, severity=severity, seed=seed,
             cache_root=cache_root)] for corruption, severity in todo]
    if todo:
        for i, metrics in evaluate_conditions(model, transforms, after, dataloader, progress,
                                              extra_metrics, log_tables=False):
            key = condition_key(*todo[i])
            results[key] = {k: v if isinstance(v, (list, dict, str)) else float(v)
                            for k, v in metrics.items()}
            if is_main_process():
                dump_json(results[key], osp.join(cond_dir, f'{key}.json'))
                print_log(f'{key}: mIoU {results[key]["mIoU"]:.2f}', logger='current')
    results = {condition_key(*c): results[condition_key(*c)]
               for c in benchmark_conditions(corruptions, severities)}
    summary = summarize(results)
    if is_main_process():
        _write_tables(results, summary, out_dir)
    return summary


def _write_tables(results, summary, out_dir):
    class_keys = sorted({k for m in results.values() for k in m if k.startswith('IoU.')})
    rows = [[key, m['mIoU'], m['aAcc']] + [m.get(k) for k in class_keys] for key, m in results.items()]
    dump_csv(rows, osp.join(out_dir, 'results.csv'), header=['condition', 'mIoU', 'aAcc'] + class_keys)
    dump_json(summary, osp.join(out_dir, 'summary.json'))
