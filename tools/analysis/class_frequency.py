"""Class frequency of a dataset, from the label maps of a config's split (DropClass supp. §C).

    python tools/analysis/class_frequency.py CONFIG --out DIR [--split train] [--by pixel|instance]
        [--cfg-options KEY=VALUE ...]

writes DIR/class_frequency.{json,csv,md} (pixel and instance frequency, sorted by increasing
``--by`` frequency) and DIR/class_frequency.png, and prints the markdown table.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmseg_bias.analysis.class_frequency import (MEASURES, class_frequency, load_analysis_config,
                                                 save_class_frequency)
from mmseg_bias.visualization.bias_figures import plot_class_frequency


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='MMSeg config whose dataset is counted')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='dataset split (default train, as the paper)')
    parser.add_argument('--by', default='pixel', choices=MEASURES,
                        help='sort by pixel (Cityscapes in the paper) or instance (VOC) frequency')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG, key=value (as MMSeg tools)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    freq = class_frequency(load_analysis_config(args.config, args.cfg_options), split=args.split)
    paths = save_class_frequency(freq, args.out, by=args.by)
    plot_class_frequency(freq, osp.join(args.out, 'class_frequency.png'), by=args.by)
    with open(paths[2]) as f:
        print(f.read(), end='')
    print(f'{freq["num_images"]} images, {freq["num_pixels"]} labelled pixels; '
          f'written to {args.out}')


if __name__ == '__main__':
    main()
