"""Texture-MNIST context-bias benchmark: plant a bias, train, check it was learned, score
VG / SG / IG / grid saliency with CBD and CBL (grid saliency supp. §S1.3-S1.6).

    python tools/saliency/context_bias_benchmark.py --out DIR
        [--config configs/toy/unet_texture_mnist.py] [--digits 3] [--textures checker_8]
        [--seeds 0] [--paper-grid] [--strength strong|weak] [--num-train N] [--num-test N]
        [--paper-data] [--iters N] [--batch-size N] [--paper-schedule]
        [--methods grid ig vg sg] [--per-digit 5] [--grid-steps 100] [--ig-steps 25]
        [--sg-samples 25] [--request-source gt|pred] [--min-drop 0.3]
        [--sweep] [--sweep-lam ...] [--sweep-lr ...] [--sweep-init ...] [--sweep-per-digit 2]
        [--threads N] [--device cpu] [--cfg-options KEY=VALUE ...]
        [--mnist-root DIR] [--texture-dir DIR] [--split 2|4] [--test-seed 0]
        [--contrast 0.2] [--no-normalise]

Writes into DIR: benchmark.json (all numbers and timings), runs.csv (per biased run: IoUs, the
IoU drop, whether the bias was learned, CBL and CBD gap per method), iou_drop.{csv,png}
(Fig. S4a), iou_drop_all_classes.csv, cbd_<method>.{csv,png} (Figs. S4b-e), cbl.{csv,png}
(Figs. S6/S10), samples_<run>.png (Fig. S1), examples_<run>.png and, with --sweep,
sweep.{json,csv,png} (Fig. S11). Datasets go to DIR/data, models to DIR/models, cached results
to DIR/runs: the same command again resumes. The last line printed is one JSON object.
"""
import argparse
import json
import os.path as osp
import time

import torch
from mmengine.config import DictAction

from mmseg_bias.toy.benchmark import (METHODS, PAPER_DATA, PAPER_GRID, SMALL_GRID, SWEEP,
                                      grid_parameter_sweep, run_benchmark)
from mmseg_bias.toy.runs import PAPER_SCHEDULE, load_run, schedule_options

DEFAULT_CONFIG = 'configs/toy/unet_texture_mnist.py'
DEFAULT_DATA = dict(num_train=6000, num_test=300)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config (default: the '
                        'toy U-Net, 5 CPU minutes; configs/toy has other backbones)')
    parser.add_argument('--digits', nargs='+', type=int, default=list(SMALL_GRID['digits']),
                        help='bias digits (default 3; paper 0-9)')
    parser.add_argument('--textures', nargs='+', default=list(SMALL_GRID['textures']),
                        help='bias textures, names or pool indices (default checker_8; paper: '
                        'the five bias textures)')
    parser.add_argument('--seeds', nargs='+', type=int, default=list(SMALL_GRID['seeds']),
                        help='training-set seeds (default 0; paper 5 seeds)')
    parser.add_argument('--paper-grid', action='store_true',
                        help='10 digits x 5 bias textures x 5 seeds (overrides the three above)')
    parser.add_argument('--strength', default='strong', choices=('strong', 'weak'))
    parser.add_argument('--num-train', type=int, default=DEFAULT_DATA['num_train'],
                        help='training images per dataset (paper 50000)')
    parser.add_argument('--num-test', type=int, default=DEFAULT_DATA['num_test'],
                        help='test images (paper 1000)')
    parser.add_argument('--paper-data', action='store_true', help='50000 / 1000 images')
    parser.add_argument('--test-seed', type=int, default=0, help='seed of the fixed test sets')
    parser.add_argument('--split', type=int, default=2, choices=(2, 4),
                        help='background tiles (paper: 2 halves)')
    parser.add_argument('--mnist-root', help='MNIST IDX folder (default: rendered digits)')
    parser.add_argument('--texture-dir', help='texture images (default: procedural pool)')
    parser.add_argument('--contrast', type=float, default=0.2,
                        help='texture standard deviation after normalisation (grey 0-1)')
    parser.add_argument('--no-normalise', action='store_true',
                        help='keep the textures\' own brightness and contrast')
    parser.add_argument('--iters', type=int, help='training iterations, lr / 10 after 80%% '
                        '(default: the config\'s schedule)')
    parser.add_argument('--batch-size', type=int, help='training batch size (default: config)')
    parser.add_argument('--paper-schedule', action='store_true',
                        help='50 epochs, batch 100, lr / 10 after epoch 40 (paper; a GPU job)')
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--per-digit', type=int, default=3,
                        help='test images explained per digit and model')
    parser.add_argument('--grid-steps', type=int, default=100,
                        help='grid saliency SGD steps (paper 100)')
    parser.add_argument('--ig-steps', type=int, default=25, help='IG steps (paper 25)')
    parser.add_argument('--sg-samples', type=int, default=25, help='SG samples (paper 25)')
    parser.add_argument('--request-source', default='gt', choices=('gt', 'pred'),
                        help='request = the digit\'s label mask (default) or its prediction')
    parser.add_argument('--min-drop', type=float, default=0.3,
                        help='IoU drop (0-1) for the bias to count as learned (issue: 0.3)')
    parser.add_argument('--sweep', action='store_true',
                        help='also sweep grid saliency\'s lambda, lr and init (Fig. S11)')
    parser.add_argument('--sweep-lam', nargs='+', type=float, default=list(SWEEP['lam']))
    parser.add_argument('--sweep-lr', nargs='+', type=float, default=list(SWEEP['lr']))
    parser.add_argument('--sweep-init', nargs='+', type=float, default=list(SWEEP['init']))
    parser.add_argument('--sweep-per-digit', type=int, default=2,
                        help='biased test images per digit in the sweep')
    parser.add_argument('--threads', type=int, help='torch CPU threads (on a shared machine, '
                        '1 avoids oversubscription)')
    parser.add_argument('--device', default='cpu', help='device for evaluation and saliency')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='training config overrides, key=value (as MMSeg tools)')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the benchmark; returns its summary (see mmseg_bias.toy.benchmark.summarise)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not osp.isfile(args.config) and '::' not in args.config:
        raise SystemExit(f'error: config {args.config!r} does not exist; run from the repository '
                         'root or pass --config')
    if args.paper_schedule and (args.iters or args.batch_size):
        raise SystemExit('error: --paper-schedule sets iterations and batch size; drop --iters '
                         'and --batch-size')
    grid = PAPER_GRID if args.paper_grid else dict(digits=args.digits, textures=args.textures,
                                                   seeds=args.seeds)
    data = PAPER_DATA if args.paper_data else dict(num_train=args.num_train,
                                                   num_test=args.num_test)
    data_options = dict(data, test_seed=args.test_seed, split=args.split,
                        mnist_root=args.mnist_root, texture_dir=args.texture_dir,
                        normalise=not args.no_normalise, contrast=args.contrast)
    cfg_options = dict(PAPER_SCHEDULE if args.paper_schedule else
                       schedule_options(args.iters, args.batch_size), **(args.cfg_options or {}))
    grid_options = dict(steps=args.grid_steps)
    start = time.perf_counter()
    try:
        summary = run_benchmark(
            args.out, args.config, strength=args.strength, methods=args.methods,
            per_digit=args.per_digit, data_options=data_options, cfg_options=cfg_options or None,
            grid_options=grid_options,
            gradient_options=dict(n_steps=args.ig_steps, nt_samples=args.sg_samples),
            request_source=args.request_source, min_drop=args.min_drop, device=args.device,
            **grid)
        if args.sweep:
            runs = [load_run(args.out, args.config, s, d, t, args.strength, data_options,
                             cfg_options or None, args.device)
                    for d in grid['digits'] for t in summary['textures'] for s in grid['seeds']]
            grid_parameter_sweep(args.out, runs, dict(lam=args.sweep_lam, lr=args.sweep_lr,
                                                      init=args.sweep_init),
                                 args.sweep_per_digit, grid_options, args.request_source)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        raise SystemExit(f'error: {e}')
    for r in summary['runs']:
        print(f'{r["run"]}: biased digit IoU {r["digit_iou"]:.2f} vs unbiased model '
              f'{r["unbiased_digit_iou"]:.2f} -> drop {r["iou_drop"]:.2f} '
              f'({"bias learned" if r["bias_learned"] else "BIAS NOT LEARNED"}); mIoU '
              f'{r["mIoU"]:.2f}, unbiased model {r["unbiased_mIoU"]:.2f}')
    print('CBL (mean over runs): ' + ', '.join(f'{m} {s["mean"]:.2f}'
                                                for m, s in summary['cbl'].items()))
    print('CBD gap (biased digit - others): ' + ', '.join(
        f'{m} {s["mean"]:.3f}' for m, s in summary['cbd_gap'].items()))
    print(f'written to {args.out}')
    print(json.dumps(dict(
        seconds=round(time.perf_counter() - start, 1), timings=summary['timings'],
        unbiased_mIoU=summary['unbiased'], unbiased_train_seconds=summary['unbiased_train_seconds'],
        iou_drop=[r['iou_drop'] for r in summary['runs']], bias_learned=summary['bias_learned'],
        cbl={m: s["mean"] for m, s in summary["cbl"].items()}), default=float))
    return summary


if __name__ == '__main__':
    main()
