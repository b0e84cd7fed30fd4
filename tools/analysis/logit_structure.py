"""Logit-structure analysis of a segmentor (Lehman et al., ICIP 2020), or a comparison of results.

Analyse one model under one condition (clean, or one corruption at one severity):

    python tools/analysis/logit_structure.py CONFIG CHECKPOINT --out DIR
        [--corruption NAME --severity S] [--group-by pred|gt] [--device cpu]

writes DIR/logit_structure.json (IoU metrics and every logit statistic) and DIR/centroids.png,
centroid_distances.png, correlation_grid.png, explained_variance.png.

Compare saved results (several models, and/or several conditions of a model):

    python tools/analysis/logit_structure.py --compare RESULT.json [RESULT.json ...]
        [--labels A B ...] --out DIR

writes DIR/explained_variance.png (one curve per result), DIR/distance_vs_miou.png (when a label
has results for several conditions) and DIR/comparison.csv. Results with the same label are one
model under different conditions; the default label is the model's config name.
"""
import argparse
import importlib
import os.path as osp
from collections import defaultdict

from mmseg.registry import TRANSFORMS

from mmseg_bias.apis import init_segmentor
from mmseg_bias.evaluation.logit_structure import evaluate_logit_structure
from mmseg_bias.utils import dump_csv, dump_json, load_json, save_figure
from mmseg_bias.visualization.logit_figures import (plot_distance_vs_miou, plot_explained_variance,
                                                    write_logit_figures)

RESULT_FILE = 'logit_structure.json'
REQUIRED_KEYS = ('mIoU', 'logit/distance', 'logit/cumulative_explained_variance')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', help='model config (analysis mode)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (analysis mode)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--corruption', help='ImageNet-C corruption applied to the test images')
    parser.add_argument('--severity', type=int, choices=range(1, 6), help='corruption severity')
    parser.add_argument('--group-by', choices=['pred', 'gt'], default='pred',
                        help='group pixels by predicted class (the paper) or by label')
    parser.add_argument('--background-index', type=int, default=0,
                        help="background class of the paper's Distance (default 0, as VOC)")
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:0', ...")
    parser.add_argument('--compare', nargs='+', metavar='RESULT.json',
                        help=f'compare saved {RESULT_FILE} files instead of analysing a model')
    parser.add_argument('--labels', nargs='+', help='one label per --compare file')
    args = parser.parse_args(argv)
    if args.compare:
        if args.config or args.checkpoint:
            parser.error('--compare takes saved results only; drop CONFIG and CHECKPOINT')
        if args.labels and len(args.labels) != len(args.compare):
            parser.error(f'--labels has {len(args.labels)} names for {len(args.compare)} '
                         'result files; give one label per file')
        for path in args.compare:
            if not osp.isfile(path):
                parser.error(f'result file {path!r} does not exist; pass {RESULT_FILE} files '
                             'written by this tool')
    elif not (args.config and args.checkpoint):
        parser.error('pass CONFIG and CHECKPOINT (or --compare RESULT.json ...)')
    elif (args.corruption is None) != (args.severity is None):
        parser.error('--corruption and --severity go together (e.g. --corruption gaussian_noise '
                     '--severity 3)')
    elif args.corruption:
        problem = _corruption_problem(args.corruption, args.severity)
        if problem:
            parser.error(problem)
    return args


def _corruption_problem(name, severity):
    """Why ``ImageCorruption(name, severity)`` cannot be built, or None."""
    try:
        importlib.import_module('mmseg_bias.datasets.transforms.corruption')
    except ImportError:
        return ('--corruption needs the ImageCorruption transform '
                '(mmseg_bias/datasets/transforms/corruption.py), missing in this installation')
    try:
        TRANSFORMS.build(dict(type='ImageCorruption', corruption=name, severity=severity))
    except ValueError as error:
        return str(error)
    return None


def analyse(args):
    """Evaluate the model under the requested condition; write the JSON and figures."""
    model = init_segmentor(args.config, args.checkpoint, device=args.device)
    transforms = []
    condition = dict(name='clean', corruption=None, severity=0)
    if args.corruption:
        transforms = [dict(type='ImageCorruption', corruption=args.corruption,
                           severity=args.severity)]
        condition = dict(name=f'{args.corruption}@{args.severity}', corruption=args.corruption,
                         severity=args.severity)
    metric = dict(group_by=args.group_by, background_index=args.background_index)
    metrics = evaluate_logit_structure(model, transforms, metric=metric)
    classes = list(model.dataset_meta['classes'])
    result = dict(model=osp.splitext(osp.basename(args.config))[0], config=args.config,
                  checkpoint=args.checkpoint, condition=condition, group_by=args.group_by,
                  background_index=args.background_index, classes=classes, metrics=metrics)
    dump_json(result, osp.join(args.out, RESULT_FILE))
    write_logit_figures(metrics, classes, args.out, label=result['model'], group_by=args.group_by)
    print(f"{result['model']} [{condition['name']}]: mIoU {metrics['mIoU']:.2f}, Distance "
          f"{metrics['logit/distance']:.3f}, effective dim {metrics['logit/effective_dim']:.2f}; "
          f'results in {args.out}')


def compare(args):
    """Plot several saved results together and tabulate them."""
    results = [load_json(path) for path in args.compare]
    for path, result in zip(args.compare, results):
        missing = [k for k in REQUIRED_KEYS if k not in result.get('metrics', {})]
        if missing:
            raise SystemExit(f'error: {path} lacks {", ".join(missing)}; pass {RESULT_FILE} '
                             'files written by this tool')
    labels = args.labels or [r['model'] for r in results]
    per_label = defaultdict(list)
    for label, result in zip(labels, results):
        per_label[label].append(result)
    curves, series, rows = {}, {}, []
    for label, group in per_label.items():
        for result in group:
            name = label if len(group) == 1 else f"{label} ({result['condition']['name']})"
            curves[name] = result['metrics']['logit/cumulative_explained_variance']
            m = result['metrics']
            rows.append([label, result['condition']['name'], m['mIoU'], m['logit/distance'],
                         m['logit/effective_dim'], m['logit/components_for_variance']])
        if len(group) > 1:
            series[label] = ([r['metrics']['logit/distance'] for r in group],
                             [r['metrics']['mIoU'] for r in group])
    save_figure(plot_explained_variance(curves), osp.join(args.out, 'explained_variance.png'))
    if series:
        save_figure(plot_distance_vs_miou(series), osp.join(args.out, 'distance_vs_miou.png'))
    dump_csv(rows, osp.join(args.out, 'comparison.csv'),
             header=['label', 'condition', 'mIoU', 'distance', 'effective_dim',
                     'components_for_variance'])
    print(f'compared {len(results)} results ({len(per_label)} models); figures in {args.out}')


def main(argv=None):
    args = parse_args(argv)
    if args.compare:
        compare(args)
    else:
        analyse(args)


if __name__ == '__main__':
    main()
