"""Audit sections of the robustness analyses: the ImageNet-C corruption sweep (P, mPC, rPC) and
the logit-space structure (Lehman et al., ICIP 2020)."""
import os
import os.path as osp

from mmseg_bias.datasets.transforms.corruption import (BENCHMARK_CORRUPTIONS,
                                                       resolve_corruptions)
from mmseg_bias.evaluation.robustness import run_robustness
from mmseg_bias.utils import load_json, save_figure
from mmseg_bias.visualization.logit_figures import (plot_distance_vs_miou, plot_explained_variance,
                                                    write_logit_figures)
from mmseg_bias.visualization.robustness_figures import (plot_robustness_comparison,
                                                         plot_severity_curves)

from .blocks import Section, image, table

__all__ = ['ROBUSTNESS', 'LOGITS', 'robustness_summary']


def _sweep_settings(audit, name):
    o = audit.options
    return dict(audit.fingerprint(name), corruptions=resolve_corruptions(o.corruptions),
                severities=[0] + sorted(set(o.severities)), seed=o.corruption_seed)


def robustness_summary(audit, name):
    """The corruption sweep of one model, with logit statistics per condition (cached; every
    condition resumes on its own)."""
    s = _sweep_settings(audit, name)
    return audit.cache.run(
        'robustness', s,
        lambda folder: run_robustness(audit.segmentor(name), folder, s['corruptions'],
                                      s['severities'], resume=True, seed=s['seed'],
                                      extra_metrics=[dict(type='LogitStructureMetric')]),
        model=name)


def run_robustness_section(audit):
    o = audit.options
    summaries = {name: robustness_summary(audit, name) for name in audit.names}
    folder = audit.section_dir('robustness')
    os.makedirs(folder, exist_ok=True)
    curves = osp.join(folder, 'miou_vs_severity.png')
    plot_severity_curves(summaries, curves)
    bars = osp.join(folder, 'robustness_comparison.png')
    plot_robustness_comparison(summaries, bars)
    categories = sorted({c for s in summaries.values() for c in s['per_category']})
    rows = [[name, s['P'], s['mPC'], s['rPC']] + [s['per_category'].get(c) for c in categories]
            for name, s in summaries.items()]
    corruptions = resolve_corruptions(o.corruptions)
    num = sum(c in BENCHMARK_CORRUPTIONS for c in corruptions) * len(set(o.severities))
    scope = ('all 75 benchmark conditions' if num == 75 else
             f'{num} of the 75 benchmark conditions (reduced set; --full runs all 75)')
    blocks = [table(['model', 'P (clean mIoU)', 'mPC', 'rPC'] + [f'{c} mIoU' for c in categories],
                    rows, f'mPC over {scope}: {", ".join(corruptions)} at severities '
                    f'{", ".join(map(str, sorted(set(o.severities))))}', digits=3),
              image(curves, 'mIoU per corruption vs severity, one line per model'),
              image(bars, 'P, mPC and per-category means; rPC in the legend')]
    summary = {name: {'P': s['P'], 'mPC': s['mPC'], 'rPC': s['rPC']}
               for name, s in summaries.items()}
    return blocks, {}, summary


def _logit_figures(audit, name):
    """Per-model logit figures of the clean evaluation (cached); returns the scalar measures."""
    def compute(folder):
        metrics = audit.clean_metrics(name)
        write_logit_figures(metrics, audit.classes, folder, label=name)
        return {k: metrics[k] for k in ('mIoU', 'logit/distance', 'logit/effective_dim',
                                        'logit/components_for_variance',
                                        'logit/cumulative_explained_variance')}
    return audit.cache.run('logits', audit.fingerprint(name), compute, model=name)


def run_logits(audit):
    measures = {name: _logit_figures(audit, name) for name in audit.names}
    folder = audit.section_dir('logits')
    os.makedirs(folder, exist_ok=True)
    variance = osp.join(folder, 'explained_variance.png')
    save_figure(plot_explained_variance(
        {n: m['logit/cumulative_explained_variance'] for n, m in measures.items()}), variance)
    rows = [[n, m['mIoU'], m['logit/distance'], m['logit/effective_dim'],
             m['logit/components_for_variance']] for n, m in measures.items()]
    blocks = [table(['model', 'clean mIoU', 'Distance', 'effective dim.', 'PCs for 95 %'], rows,
                    'Distance = mean over classes n of μ_n[n] − μ_n[background] (class 0), logit '
                    'units; effective dim. = participation ratio of the centroid PCA', digits=3),
              image(variance, 'cumulative explained variance of the class-centroid matrix')]
    swept = [n for n in audit.names
             if audit.cache.is_done('robustness', _sweep_settings(audit, n), model=n)]
    if swept:
        series = {}
        for name in swept:
            cond_dir = osp.join(audit.cache.folder('robustness', name), 'conditions')
            results = [load_json(osp.join(cond_dir, f)) for f in sorted(os.listdir(cond_dir))]
            points = [(r['logit/distance'], r['mIoU']) for r in results if 'logit/distance' in r]
            series[name] = tuple(zip(*points))
        path = osp.join(folder, 'distance_vs_miou.png')
        save_figure(plot_distance_vs_miou(series), path)
        blocks.append(image(path, 'Distance vs mIoU over the corruption conditions'))
    columns = {}
    for name in audit.names:
        model_dir = audit.cache.folder('logits', name)
        columns[name] = [image(osp.join(model_dir, 'centroids.png'),
                               'mean logit vector per predicted class'),
                         image(osp.join(model_dir, 'centroid_distances.png'),
                               'Euclidean distances between class centroids'),
                         image(osp.join(model_dir, 'correlation_grid.png'),
                               'logit correlation within each predicted class')]
    summary = {n: {'Distance': m['logit/distance']} for n, m in measures.items()}
    return blocks, columns, summary


ROBUSTNESS = Section(
    'robustness', 'Corruption robustness (P, mPC, rPC)',
    'mIoU under ImageNet-C corruptions by severity (0 = clean), with P = clean mIoU, mPC = the '
    'mean over the corrupted conditions and rPC = mPC / P: higher and flatter curves, and rPC '
    'closer to 1, mean a more robust model.', run_robustness_section)
LOGITS = Section(
    'logits', 'Logit structure',
    'Structure of the logit space on clean images, pixels grouped by predicted class: class '
    'centroids, the distances between them and the PCA of the centroid matrix; well separated '
    'centroids and a larger Distance go with robustness, and Distance vs mIoU shows both '
    'shrinking under corruption.', run_logits)
