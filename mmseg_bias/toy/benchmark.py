"""The Texture-MNIST context-bias benchmark (grid saliency supp. §S1.3-S1.6).

For every cell of a grid of bias digits x bias textures x dataset seeds, plus one unbiased
dataset per seed (:mod:`~mmseg_bias.toy.runs`):

1. generate the dataset and train a model on it with the MMSeg runner (or reuse both);
2. evaluate the model on the fixed unbiased test set: the biased digit's IoU drop against the
   unbiased model of the same seed is the check that the bias was learned (Fig. S4a; the paper
   sees the IoU fall to about 0-0.1). Explanations of a model that ignored the bias mean little,
   so every result row carries this check;
3. explain ``per_digit`` test images of every digit with each saliency method
   (:mod:`~mmseg_bias.toy.scoring`) — on the *biased* test set for biased models (the paper
   detects the bias from biased data alone), on the unbiased one for the unbiased model — and
   score CBD per test digit and CBL on the biased digit's images.

Results: the IoU-drop matrix (digits x textures), one CBD matrix per method (rows = the model's
biased digit with an 'unbiased' row, columns = test digit), CBL per method (mean and std over
runs), as JSON + CSV + PNG; :func:`grid_parameter_sweep` adds Fig. S11 (λ, learning rate, initial
value of grid saliency vs mean CBD gap and CBL). Every stage's result is cached as soon as it is
done and reused when its settings match, so an interrupted benchmark resumes.
"""
import copy
import os.path as osp
import time

import cv2
import numpy as np
from mmengine.logging import print_log

from mmseg_bias.datasets.texture_mnist import CLASSES, digit_class
from mmseg_bias.evaluation.context_bias import iou_drop
from mmseg_bias.evaluation.evaluate import evaluate
from mmseg_bias.utils import dump_csv, dump_json

from .generator import parse_bias
from .runs import as_settings, cached, load_run, run_name, set_data_root
from .scoring import explain_set, score_saliency
from .textures import BIAS_TEXTURES, TEXTURES, load_textures

__all__ = ['METHODS', 'SMALL_GRID', 'PAPER_GRID', 'PAPER_DATA', 'SWEEP', 'GRID_DEFAULTS',
           'check_grid', 'run_benchmark', 'summarise', 'save_benchmark', 'grid_parameter_sweep']

METHODS = ('grid', 'ig', 'vg', 'sg')
SMALL_GRID = dict(digits=(3, ), textures=('checker_8', ), seeds=(0, ))
PAPER_GRID = dict(digits=tuple(range(10)), textures=tuple(TEXTURES[i][0] for i in BIAS_TEXTURES),
                  seeds=tuple(range(5)))
PAPER_DATA = dict(num_train=50000, num_test=1000)
# Fig. S11: values around the paper's setting (λ 0.05, lr 0.2, init 0.5).
SWEEP = dict(lam=(0.01, 0.05, 0.2), lr=(0.05, 0.2, 0.8), init=(0.25, 0.5, 0.75))
GRID_DEFAULTS = dict(lam=0.05, lr=0.2, init=0.5)


def check_grid(digits, textures, texture_dir=None):
    """Validate the grid before any work; returns the bias textures' names (indices resolved)."""
    if not digits or not textures:
        raise ValueError('the benchmark grid needs at least one bias digit and one bias texture')
    names = load_textures(texture_dir)[0] if texture_dir else tuple(t[0] for t in TEXTURES)
    for d in digits:
        parse_bias({d: 0}, names)
    return [names[parse_bias({0: t}, names)[0]] for t in textures]


def _sample_figure(run, path, count=16):
    """Fig. S1 for one dataset: its first ``count`` training images with their digit outlines."""
    from mmseg_bias.visualization.toy_figures import plot_dataset_samples
    root = run['data_root']
    with open(osp.join(root, 'splits', 'train.txt')) as f:
        ids = f.read().split()[:count]
    images = [cv2.imread(osp.join(root, 'img_dir', 'train', f'{i}.png'), cv2.IMREAD_GRAYSCALE)
              for i in ids]
    labels = [cv2.imread(osp.join(root, 'ann_dir', 'train', f'{i}.png'), cv2.IMREAD_GRAYSCALE)
              for i in ids]
    biased = [cv2.imread(osp.join(root, 'bias_dir', 'train', f'{i}.png'),
                         cv2.IMREAD_GRAYSCALE).any() for i in ids]
    titles = [f'{int(label.max()) - 1}' + (' (bias)' if b else '')
              for label, b in zip(labels, biased)]
    plot_dataset_samples(images, labels, path, titles=titles)


def _explain_run(run, out_dir, methods, per_digit, grid_options, gradient_options,
                 request_source, gradient_normalise, timings):
    """Cached CBD / CBL results of every method for one run, and an example figure."""
    from mmseg_bias.visualization.toy_figures import plot_saliency_examples
    digit = run['digit']
    split = 'test' if digit is None else 'test_biased'
    data, scores, example = None, {}, {}
    for method in methods:
        options = grid_options if method == 'grid' else gradient_options
        settings = dict(run['settings'], method=method, options=options, split=split,
                        per_digit=per_digit, request_source=request_source,
                        normalise=gradient_normalise)

        def compute(method=method, options=options):
            nonlocal data
            if data is None:
                data = explain_set(run['cfg'], run['data_root'], split, per_digit)
            result = score_saliency(run['model'], data, method, options, request_source,
                                    gradient_normalise, digit)
            timings['explain'] += result['seconds']
            k = next((k for k, r in enumerate(result['requests'])
                      if data['bias_masks'][r.image].any()), None)
            if k is not None:
                example['request'] = result['requests'][k]
                example[method] = result['maps'][k].numpy()
            return dict(metrics=result['metrics'], rows=result['rows'],
                        seconds=result['seconds'])
        scores[method] = cached(osp.join(out_dir, 'runs', run['name'], f'saliency_{method}.json'),
                                settings, compute)
    request = example.pop('request', None)
    if request is not None and example:
        image = (data['images'][request.image, 0] * 255).round().byte().numpy()
        plot_saliency_examples(image, request.mask, data['bias_masks'][request.image].numpy(),
                               example, osp.join(out_dir, f'examples_{run["name"]}.png'),
                               title=f'{run["name"]}: test digit {data["digits"][request.image]}')
    return scores


def run_benchmark(out_dir, config, digits=SMALL_GRID['digits'], textures=SMALL_GRID['textures'],
                  seeds=SMALL_GRID['seeds'], strength='strong', methods=METHODS, per_digit=5,
                  data_options=None, cfg_options=None, grid_options=None,
                  gradient_options=None, request_source='gt', gradient_normalise='max',
                  min_drop=0.3, device='cpu'):
    """Run the benchmark grid; returns the summary written by :func:`save_benchmark`.

    Args:
        out_dir (str): output folder (datasets in ``data/``, models in ``models/``, cached
            results in ``runs/``, result files at the top).
        config (str): model config (the tool's default: configs/toy/unet_texture_mnist.py).
        digits, textures, seeds: the grid (paper: 10 digits x 5 bias textures x 5 seeds;
            default 1 x 1 x 1). Textures by name or pool index.
        strength (str): 'strong' or 'weak' bias.
        methods (Sequence[str]): saliency methods among :data:`METHODS`.
        per_digit (int): test images explained per digit and model.
        data_options (dict): generate_texture_mnist options (num_train, num_test, split, ...).
        cfg_options (dict): config overrides for training (e.g. ``runs.schedule_options``).
        grid_options, gradient_options (dict): explainer options (paper defaults otherwise).
        request_source (str): 'gt' (the digit's label mask) or 'pred' (its predicted pixels).
        gradient_normalise (str): CBD scaling of gradient maps ('max' or None).
        min_drop (float): IoU drop (0-1) from which the bias counts as learned (issue: 0.3).
        device (str): device for evaluation and explanations (training follows the config).
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f'unknown saliency methods {sorted(unknown)}; choose among {METHODS}')
    textures = check_grid(list(digits), list(textures),
                          (data_options or {}).get('texture_dir'))
    timings = dict(data=0.0, train=0.0, evaluate=0.0, explain=0.0)
    runs = [(s, None, None) for s in seeds] + [(s, d, t) for d in digits for t in textures
                                               for s in seeds]
    results = {}
    for k, (seed, digit, texture) in enumerate(runs):
        name = run_name(seed, digit, texture)
        print_log(f'[context bias benchmark] run {k + 1}/{len(runs)}: {name}', logger='current')
        run = load_run(out_dir, config, seed, digit, texture, strength, data_options,
                       cfg_options, device)
        timings['data'] += run['data_seconds']
        timings['train'] += run['train_seconds']
        if digit is not None and not osp.isfile(osp.join(out_dir, f'samples_{name}.png')):
            _sample_figure(run, osp.join(out_dir, f'samples_{name}.png'))
        start = time.perf_counter()
        loader = set_data_root(copy.deepcopy(run['cfg']), run['data_root']).test_dataloader
        metrics = cached(osp.join(out_dir, 'runs', name, 'unbiased_test.json'), run['settings'],
                         lambda: evaluate(run['model'], dataloader=loader, progress=False))
        timings['evaluate'] += time.perf_counter() - start
        scores = _explain_run(run, out_dir, methods, per_digit, grid_options, gradient_options,
                              request_source, gradient_normalise, timings)
        results[name] = dict(seed=seed, digit=digit, texture=texture, metrics=metrics,
                             saliency=scores, train_seconds=run['train_seconds'])
    summary = summarise(results, digits, textures, seeds, methods, min_drop)
    summary.update(strength=strength, config=config, cfg_options=as_settings(cfg_options),
                   data_options=as_settings(data_options or {}), per_digit=per_digit,
                   timings=timings, request_source=request_source,
                   gradient_normalise=gradient_normalise)
    save_benchmark(summary, out_dir)
    return summary


def _nanstats(values):
    values = np.asarray([np.nan if v is None else v for v in values], float)
    ok = values[np.isfinite(values)]
    return dict(mean=float(ok.mean()) if len(ok) else float('nan'),
                std=float(ok.std()) if len(ok) else float('nan'), n=int(len(ok)))


def summarise(results, digits, textures, seeds, methods, min_drop=0.3):
    """Matrices and per-run rows from the per-run results of :func:`run_benchmark`.

    Returns:
        dict: ``runs`` (per biased run: mIoU, the biased digit's IoU for it and for the unbiased
        model, the drop, ``bias_learned``, CBL and CBD gap per method), ``unbiased`` (mIoU per
        seed), ``iou_drop`` (digits x textures, mean over seeds, 0-1), ``iou_drop_full`` (per
        biased digit: mean drop of every class), ``cbd`` (method -> rows 'unbiased' + digits x
        10 test digits), ``cbl`` and ``cbd_gap`` (method -> mean / std / n over runs),
        ``bias_learned`` (share of runs).
    """
    digit_names = [str(d) for d in range(10)]
    runs, drops = [], {}
    full = {d: [] for d in digits}
    for seed in seeds:
        base = results[run_name(seed)]['metrics']
        for d in digits:
            for t in textures:
                r = results[run_name(seed, d, t)]
                drop = iou_drop(base, r['metrics'], CLASSES)
                full[d].append(drop)
                name = CLASSES[digit_class(d)]
                row = dict(run=run_name(seed, d, t), seed=seed, digit=d, texture=t,
                           mIoU=r['metrics']['mIoU'] / 100,
                           unbiased_mIoU=base['mIoU'] / 100,
                           digit_iou=r['metrics'][f'IoU.{name}'] / 100,
                           unbiased_digit_iou=base[f'IoU.{name}'] / 100,
                           iou_drop=float(drop[digit_class(d)]),
                           bias_learned=bool(drop[digit_class(d)] >= min_drop),
                           train_seconds=r['train_seconds'])
                for m in methods:
                    met = r['saliency'][m]['metrics']
                    row[f'cbl_{m}'] = met.get('CBL.biased', float('nan'))
                    row[f'cbd_gap_{m}'] = met.get('CBD.gap', float('nan'))
                runs.append(row)
                drops.setdefault((d, t), []).append(row['iou_drop'])
    cbd = {}
    for m in methods:
        rows = [[_nanstats([results[run_name(s)]['saliency'][m]['metrics'].get(f'CBD.{c}')
                            for s in seeds])['mean'] for c in digit_names]]
        for d in digits:
            rows.append([_nanstats([results[run_name(s, d, t)]['saliency'][m]['metrics'].get(
                f'CBD.{c}') for s in seeds for t in textures])['mean'] for c in digit_names])
        cbd[m] = rows
    return dict(
        digits=list(digits), textures=list(textures), seeds=list(seeds), methods=list(methods),
        min_drop=min_drop, runs=runs,
        unbiased={str(s): results[run_name(s)]['metrics']['mIoU'] / 100 for s in seeds},
        unbiased_train_seconds={str(s): results[run_name(s)]['train_seconds'] for s in seeds},
        iou_drop=[[_nanstats(drops[(d, t)])['mean'] for t in textures] for d in digits],
        iou_drop_full={str(d): np.nanmean(full[d], axis=0).tolist() for d in digits},
        cbd=cbd, cbd_rows=['unbiased'] + [str(d) for d in digits], cbd_columns=digit_names,
        cbl={m: _nanstats([r[f'cbl_{m}'] for r in runs]) for m in methods},
        cbd_gap={m: _nanstats([r[f'cbd_gap_{m}'] for r in runs]) for m in methods},
        bias_learned=float(np.mean([r['bias_learned'] for r in runs])))


def save_benchmark(summary, out_dir):
    """benchmark.json, runs.csv, iou_drop.{csv,png}, iou_drop_all_classes.csv,
    cbd_<method>.{csv,png}, cbl.{csv,png}; returns their paths."""
    from mmseg_bias.visualization.toy_figures import (plot_cbd_matrix, plot_cbl_bars,
                                                      plot_iou_drop_matrix)
    paths = [osp.join(out_dir, 'benchmark.json')]
    dump_json(summary, paths[0])
    keys = list(summary['runs'][0])
    paths.append(osp.join(out_dir, 'runs.csv'))
    dump_csv([[r[k] for k in keys] for r in summary['runs']], paths[-1], header=keys)
    paths.append(osp.join(out_dir, 'iou_drop.csv'))
    dump_csv([[d] + row for d, row in zip(summary['digits'], summary['iou_drop'])], paths[-1],
             header=['biased digit'] + summary['textures'])
    paths.append(plot_iou_drop_matrix(summary['iou_drop'], summary['digits'],
                                      summary['textures'], osp.join(out_dir, 'iou_drop.png')))
    paths.append(osp.join(out_dir, 'iou_drop_all_classes.csv'))
    dump_csv([[d] + row for d, row in summary['iou_drop_full'].items()], paths[-1],
             header=['biased digit'] + list(CLASSES))
    for m in summary['methods']:
        paths.append(osp.join(out_dir, f'cbd_{m}.csv'))
        dump_csv([[r] + row for r, row in zip(summary['cbd_rows'], summary['cbd'][m])],
                 paths[-1], header=['biased digit'] + summary['cbd_columns'])
        paths.append(plot_cbd_matrix(summary['cbd'][m], summary['cbd_rows'],
                                     summary['cbd_columns'], osp.join(out_dir, f'cbd_{m}.png'),
                                     title=f'CBD, {m} ({summary.get("strength", "")} bias)'))
    paths.append(osp.join(out_dir, 'cbl.csv'))
    dump_csv([[m, s['mean'], s['std'], s['n'], summary['cbd_gap'][m]['mean']]
              for m, s in summary['cbl'].items()], paths[-1],
             header=['method', 'CBL mean', 'CBL std', 'runs', 'CBD gap mean'])
    paths.append(plot_cbl_bars(summary['cbl'], osp.join(out_dir, 'cbl.png'),
                               strength=summary.get('strength')))
    return paths


def grid_parameter_sweep(out_dir, runs, values=None, per_digit=2, base_options=None,
                         request_source='gt'):
    """Fig. S11: grid saliency's mean CBD gap and CBL while one of λ, learning rate and initial
    value moves around the paper's setting (the others at their defaults).

    Args:
        out_dir (str): output folder (``sweep.{json,csv,png}``, cached cells in ``runs/sweep``).
        runs (Sequence[dict]): biased runs (:func:`~mmseg_bias.toy.runs.load_run`).
        values (dict): parameter -> values (default :data:`SWEEP`).
        per_digit (int): biased test images explained per digit and model.
        base_options (dict): other GridSaliency options.
        request_source (str): as :func:`run_benchmark`.

    Returns:
        dict: parameter -> list of dict(value, cbd_biased, cbd_unbiased, cbd_gap, cbl).
    """
    from mmseg_bias.visualization.toy_figures import plot_grid_sweep
    values = values or SWEEP
    sweep, data = {}, {}
    for param, vals in values.items():
        sweep[param] = []
        for v in vals:
            options = dict(base_options or {}, **{param: v})
            cells = []
            for run in runs:
                settings = dict(run['settings'], options=options, per_digit=per_digit,
                                request_source=request_source)

                def compute(run=run, options=options):
                    if run['name'] not in data:
                        data[run['name']] = explain_set(run['cfg'], run['data_root'],
                                                        'test_biased', per_digit)
                    return score_saliency(run['model'], data[run['name']], 'grid', options,
                                          request_source, biased_digit=run['digit'])['metrics']
                cells.append(cached(osp.join(out_dir, 'runs', 'sweep', run['name'],
                                             f'{param}_{v}.json'), settings, compute))
            sweep[param].append(dict(
                value=v,
                cbd_biased=_nanstats([c.get('CBD.biased') for c in cells])['mean'],
                cbd_unbiased=_nanstats([c.get('CBD.unbiased') for c in cells])['mean'],
                cbd_gap=_nanstats([c.get('CBD.gap') for c in cells])['mean'],
                cbl=_nanstats([c.get('CBL.biased') for c in cells])['mean']))
            print_log(f'[sweep] {param}={v}: {sweep[param][-1]}', logger='current')
    dump_json(dict(sweep=sweep, defaults=GRID_DEFAULTS, per_digit=per_digit,
                   runs=[r['name'] for r in runs]), osp.join(out_dir, 'sweep.json'))
    dump_csv([[p, r['value'], r['cbd_biased'], r['cbd_unbiased'], r['cbd_gap'], r['cbl']]
              for p, rows in sweep.items() for r in rows], osp.join(out_dir, 'sweep.csv'),
             header=['parameter', 'value', 'CBD biased', 'CBD unbiased', 'CBD gap', 'CBL'])
    plot_grid_sweep(sweep, osp.join(out_dir, 'sweep.png'), GRID_DEFAULTS)
    return sweep
