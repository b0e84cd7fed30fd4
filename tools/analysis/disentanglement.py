"""Disentanglement check of a DropClass model (supp. §A): can a new classifier on A_drop, with one
class z always dropped, reconstruct z?

    python tools/analysis/disentanglement.py CONFIG CHECKPOINT --dropped-class Z --out DIR
        [--iters 1000] [--lr 0.01] [--momentum 0.9] [--weight-decay 5e-4] [--num-samples 4]
        [--control] [--seed 0] [--device cpu] [--cfg-options KEY=VALUE ...]

trains h' on the config's train set (model frozen), evaluates on its test set and writes
DIR/disentanglement.{json,csv,md} (per-class IoU of the normal model and of h', z marked) and
DIR/qualitative_<i>.png (image, ground truth, normal prediction, h' prediction).
"""
import argparse

from mmengine.config import DictAction

from mmseg_bias.analysis.class_frequency import dataset_metainfo, load_analysis_config
from mmseg_bias.analysis.disentanglement import disentanglement_check, save_disentanglement
from mmseg_bias.apis import init_segmentor
from mmseg_bias.visualization.bias_figures import save_prediction_panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the DropClass model')
    parser.add_argument('checkpoint', help='checkpoint of the DropClass model')
    parser.add_argument('--dropped-class', required=True, help='class z (name or index)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--iters', type=int, default=1000, help="training iterations of h'")
    parser.add_argument('--lr', type=float, default=0.01, help="SGD learning rate of h'")
    parser.add_argument('--momentum', type=float, default=0.9, help='SGD momentum')
    parser.add_argument('--weight-decay', type=float, default=5e-4, help='SGD weight decay')
    parser.add_argument('--num-samples', type=int, default=4, help='qualitative test images')
    parser.add_argument('--control', action='store_true',
                        help="also train h' with nothing dropped (same budget), as a reference")
    parser.add_argument('--seed', type=int, default=0, help="seed of h' init and data order")
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:0', ...")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG, key=value (as MMSeg tools)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_analysis_config(args.config, args.cfg_options)
    meta = dataset_metainfo(cfg)
    model = init_segmentor(cfg, args.checkpoint, device=args.device)
    result = disentanglement_check(model, args.dropped_class, meta['classes'], iters=args.iters,
                                   lr=args.lr, momentum=args.momentum,
                                   weight_decay=args.weight_decay, num_samples=args.num_samples,
                                   control=args.control, seed=args.seed)
    paths = save_disentanglement(result, args.out)
    save_prediction_panels(result['samples'], meta['palette'], args.out, result['dropped_class'])
    with open(paths[-1]) as f:
        print(f.read(), end='')
    scores = ', '.join(f'{k} {v:.1f}' for k, v in result['z_iou'].items())
    print(f'IoU of {result["dropped_class"]}: {scores}; written to {args.out}')


if __name__ == '__main__':
    main()
