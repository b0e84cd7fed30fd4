"""Corruption robustness benchmark of a segmentor: P, mPC, rPC over ImageNet-C conditions.

    python tools/test_robustness.py CONFIG CHECKPOINT --out DIR \
        [--corruptions benchmark|all|noise|blur|weather|digital|NAME,NAME] [--severities 0 1 2 3 4 5]
        [--resume] [--after-resize] [--cache DIR] [--gallery] [--cfg-options k=v] [--launcher pytorch]
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.dist import is_main_process

from mmseg_bias.apis import init_launch, init_segmentor
from mmseg_bias.datasets.transforms import resolve_corruptions
from mmseg_bias.evaluation.robustness import run_robustness
from mmseg_bias.utils import load_json, save_figure
from mmseg_bias.visualization.logit_figures import plot_distance_vs_miou
from mmseg_bias.visualization.robustness_figures import (plot_corruption_gallery,
                                                         plot_severity_curves)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Corruption robustness benchmark (ImageNet-C)')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output folder (results, summary, figures)')
    parser.add_argument('--corruptions', default='benchmark',
                        help='benchmark | all | noise | blur | weather | digital | comma-separated names')
    parser.add_argument('--severities', type=int, nargs='+', default=[0, 1, 2, 3, 4, 5],
                        help='0 = clean')
    parser.add_argument('--resume', action='store_true', help='skip conditions already in --out')
    parser.add_argument('--after-resize', action='store_true',
                        help='corrupt after Resize instead of at the original resolution')
    parser.add_argument('--seed', type=int, default=0, help='corruption seed')
    parser.add_argument('--cache', help='corruption cache from tools/robustness/cache_corruptions.py')
    parser.add_argument('--logit-structure', action='store_true',
                        help='also record the logit-structure statistics of every condition and '
                        'plot Distance vs mIoU')
    parser.add_argument('--gallery', action='store_true',
                        help='also save the first test image under every condition')
    parser.add_argument('--device', default=None, help='cpu | cuda:0 (default: cuda if available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def plot_distance_vs_miou_files(out, label):
    """Distance vs mIoU over the conditions in ``out/conditions`` (needs --logit-structure)."""
    folder = osp.join(out, 'conditions')
    results = [load_json(osp.join(folder, f)) for f in sorted(os.listdir(folder))]
    points = [(r['logit/distance'], r['mIoU']) for r in results if 'logit/distance' in r]
    fig = plot_distance_vs_miou({label: tuple(zip(*points))})
    save_figure(fig, osp.join(out, 'distance_vs_miou.png'))


def main(argv=None):
    args = parse_args(argv)
    corruptions = resolve_corruptions(args.corruptions)
    device = init_launch(args.launcher, args.device)
    model = init_segmentor(args.config, args.checkpoint, device=device, cfg_options=args.cfg_options)
    summary = run_robustness(model, args.out, corruptions, args.severities, resume=args.resume,
                             seed=args.seed, cache_root=args.cache,
                             after='Resize' if args.after_resize else 'LoadImageFromFile',
                             extra_metrics=[dict(type='LogitStructureMetric')]
                             if args.logit_structure else ())
    if not is_main_process():
        return
    if summary['per_severity']:
        plot_severity_curves({osp.basename(args.checkpoint): summary},
                             osp.join(args.out, 'miou_vs_severity.png'))
    if args.logit_structure:
        plot_distance_vs_miou_files(args.out, osp.basename(args.checkpoint))
    if args.gallery:
        import mmcv
        from mmengine.registry import init_default_scope
        from mmseg.registry import DATASETS
        init_default_scope('mmseg')
        dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
        image = mmcv.imread(dataset.get_data_info(0)['img_path'])
        plot_corruption_gallery(image, corruptions, sorted(set(args.severities) | {0}),
                                osp.join(args.out, 'gallery.png'), seed=args.seed)
    fmt = lambda v: 'n/a' if v is None else f'{v:.3f}'  # noqa: E731
    print(f"P {fmt(summary['P'])}  mPC {fmt(summary['mPC'])}  rPC {fmt(summary['rPC'])}  "
          + '  '.join(f'{k} {v:.2f}' for k, v in summary['per_category'].items()))
    print(f'results written to {args.out}')


if __name__ == '__main__':
    main()
