"""Cosine similarity between a segmentor's classifier weight vectors, ordered by class frequency.

    python tools/analysis/classifier_similarity.py CONFIG CHECKPOINT --out DIR
        [--frequency class_frequency.json | --split train] [--by pixel|instance]
        [--cfg-options KEY=VALUE ...]

writes DIR/classifier_similarity.json, DIR/similarity_matrix.{csv,md},
DIR/similarity_summary.{csv,md} (mean / max similarity to the other classes, by frequency),
DIR/similarity_matrix.png and DIR/similarity_vs_frequency.png.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmseg_bias.analysis.class_frequency import (MEASURES, class_frequency, load_analysis_config,
                                                 load_frequency, save_class_frequency)
from mmseg_bias.analysis.classifier_similarity import (classifier_similarity, classifier_weight,
                                                       save_classifier_similarity)
from mmseg_bias.apis import init_segmentor
from mmseg_bias.visualization.bias_figures import (plot_similarity_matrix,
                                                   plot_similarity_vs_frequency)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--frequency', help='class_frequency.json (default: computed from CONFIG)')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='split the frequency is computed on (default train)')
    parser.add_argument('--by', default='pixel', choices=MEASURES, help='frequency measure')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG, key=value (as MMSeg tools)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_analysis_config(args.config, args.cfg_options)
    if args.frequency:
        freq = load_frequency(args.frequency)
    else:
        freq = class_frequency(cfg, split=args.split)
        save_class_frequency(freq, args.out, by=args.by)
    weight = classifier_weight(init_segmentor(cfg, args.checkpoint))
    result = classifier_similarity(weight, freq, by=args.by)
    paths = save_classifier_similarity(result, args.out)
    plot_similarity_matrix(result, osp.join(args.out, 'similarity_matrix.png'))
    plot_similarity_vs_frequency(result, osp.join(args.out, 'similarity_vs_frequency.png'))
    with open(paths[-1]) as f:
        print(f.read(), end='')
    print(f'Spearman rank correlation (frequency vs mean similarity): {result["spearman"]:.3f}; '
          f'written to {args.out}')


if __name__ == '__main__':
    main()
