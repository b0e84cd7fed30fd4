"""Per-class IoU sorted by class frequency, with mIoU† over the rarest classes (supp. Table C-2).

    python tools/analysis/iou_by_frequency.py CONFIG [CHECKPOINT] --out DIR
        [--compare CONFIG2 CHECKPOINT2] [--metrics METRICS.json ...] [--names A B ...]
        [--frequency class_frequency.json | --split train] [--by pixel|instance] [--num-rare N]
        [--device cpu] [--cfg-options KEY=VALUE ...]

CONFIG gives the dataset (and its frequency, unless --frequency is given). Results come from fresh
evaluations of CHECKPOINT (with CONFIG) and of each --compare pair, then from --metrics files
(written by mmseg_bias.apis.evaluate or tools/test.py with ClassIoUMetric), in that order; Δ rows
compare every model with the first. Writes DIR/iou_by_frequency.{json,csv,md},
DIR/iou_by_frequency.png and DIR/metrics_<name>.json for fresh evaluations.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmseg_bias.analysis.class_frequency import (MEASURES, class_frequency, load_analysis_config,
                                                 load_frequency, save_class_frequency)
from mmseg_bias.analysis.iou_by_frequency import (iou_by_frequency, load_metrics,
                                                  save_iou_by_frequency)
from mmseg_bias.apis import evaluate, init_segmentor
from mmseg_bias.utils import dump_json
from mmseg_bias.visualization.bias_figures import plot_iou_by_frequency


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='MMSeg config (dataset, and model of CHECKPOINT)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint to evaluate with CONFIG')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--compare', nargs=2, action='append', default=[],
                        metavar=('CONFIG', 'CHECKPOINT'), help='another model to evaluate')
    parser.add_argument('--metrics', nargs='+', default=[],
                        help='metrics JSON files with IoU.<class> keys')
    parser.add_argument('--names', nargs='+', help='one name per model, in the order above')
    parser.add_argument('--frequency', help='class_frequency.json (default: computed from CONFIG)')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='split the frequency is computed on (default train)')
    parser.add_argument('--by', default='pixel', choices=MEASURES, help='frequency measure')
    parser.add_argument('--num-rare', type=int,
                        help='classes in mIoU† (default: half of them, rounded down)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:0', ...")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every config, key=value (as MMSeg tools)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    models = ([(args.config, args.checkpoint)] if args.checkpoint else []) + \
        [tuple(pair) for pair in args.compare]
    sources = [('ckpt', cfg, ckpt, osp.splitext(osp.basename(cfg))[0]) for cfg, ckpt in models]
    sources += [('json', None, path, osp.splitext(osp.basename(path))[0]) for path in args.metrics]
    if not sources:
        raise SystemExit('error: give a CHECKPOINT, --compare CONFIG CHECKPOINT or --metrics files')
    names = args.names or [s[3] for s in sources]
    if len(names) != len(sources) or len(set(names)) != len(names):
        raise SystemExit(f'error: need {len(sources)} distinct --names (one per model), '
                         f'got {names}')
    if args.frequency:
        freq = load_frequency(args.frequency)
    else:
        freq = class_frequency(load_analysis_config(args.config, args.cfg_options),
                               split=args.split)
        save_class_frequency(freq, args.out, by=args.by)
    results = {}
    for (kind, cfg, path, _), name in zip(sources, names):
        if kind == 'json':
            results[name] = load_metrics(path)
        else:
            model_cfg = load_analysis_config(cfg, args.cfg_options)
            results[name] = evaluate(init_segmentor(model_cfg, path, device=args.device))
            dump_json(results[name], osp.join(args.out, f'metrics_{name}.json'))
    table = iou_by_frequency(results, freq, by=args.by, num_rare=args.num_rare)
    paths = save_iou_by_frequency(table, args.out)
    plot_iou_by_frequency(table, osp.join(args.out, 'iou_by_frequency.png'))
    with open(paths[2]) as f:
        print(f.read(), end='')
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
