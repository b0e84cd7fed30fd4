"""Context statistics of an MMSeg model over a dataset split (grid saliency supp. §S2, Fig. 6 / S14).

    python tools/saliency/context_statistics.py CONFIG CHECKPOINT --out DIR [--dataset-split val]
        [--classes car bicycle motorcycle person rider pole "traffic sign"] [--labels gt|pred]
        [--error-mode [--errors-only]] [--context-classes CLASS ...] [--dilation-area 0.19]
        [--weighting mass|binary] [--average request|pooled] [--saliency-dir DIR2]
        [every option of tools/saliency/grid_saliency.py: --method, --min-size, --steps, ...]

Explains every image of the split (results in DIR/saliency, or --saliency-dir, resumable: a rerun
or a finished tools/saliency/grid_saliency.py run with the same settings is reused), then writes
DIR/context_{saliency,baseline,difference}.png (rows: request classes, columns: context classes),
DIR/context_statistics.{csv,json} and the sample-count table DIR/sample_counts.{csv,md}
(supp. Tables S1 / S2). --error-mode explains GT ∩ prediction pairs (Table S2); the minimum component
size is then the paper's 625 px instead of 10000 px (both of 1024x2048 images, scaled to the images'
size) unless --min-size is given.
"""
import argparse
import os.path as osp

from mmseg_bias.saliency.context_stats import (DILATION_AREA, context_statistics,
                                               save_context_statistics)
from mmseg_bias.saliency.explain import (add_explain_arguments, iter_records, prepare_explain,
                                         run_explain)
from mmseg_bias.visualization.saliency_figures import plot_context_statistics


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config (or mmseg::<path>)')
    parser.add_argument('checkpoint', help='checkpoint')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--dataset-split', default='val', choices=['train', 'val', 'test'],
                        help='dataset split (paper: Cityscapes val)')
    parser.add_argument('--saliency-dir', help='where the saliency results are (default '
                        'OUT/saliency; a grid_saliency.py --out folder is reused)')
    parser.add_argument('--labels', default='gt', choices=['gt', 'pred'],
                        help='context classes from the ground truth (default) or the prediction')
    parser.add_argument('--error-mode', action='store_true', help='requests = GT ∩ prediction '
                        'per (GT class, predicted class) pair (Table S2)')
    parser.add_argument('--context-classes', nargs='+', help='columns of the heatmaps (default all)')
    parser.add_argument('--dilation-area', type=float, default=DILATION_AREA,
                        help='baseline pixels as a fraction of the image (paper: 400k of '
                        '1024x2048 = 0.19)')
    parser.add_argument('--weighting', default='mass', choices=['mass', 'binary'],
                        help='context pixels weigh their saliency (default) or count if > 0')
    parser.add_argument('--average', default='request', choices=['request', 'pooled'],
                        help='mean of per-request shares (default) or all mass pooled')
    add_explain_arguments(parser)
    args = parser.parse_args(argv)
    if args.error_mode:
        args.source = 'intersection'
    args.img = None
    return args


def main(argv=None):
    args = parse_args(argv)
    job = prepare_explain(args)
    folder = args.saliency_dir or osp.join(args.out, 'saliency')
    if run_explain(job, folder) is None:
        return
    classes = job['classes']
    if args.context_classes:
        unknown = [c for c in args.context_classes if c not in classes]
        if unknown:
            raise SystemExit(f'error: unknown context classes {unknown}; the classes are {classes}')
    stats = context_statistics(iter_records(folder, settings=job['settings']), len(classes),
                               classes, labels=args.labels, dilation_area=args.dilation_area,
                               weighting=args.weighting, average=args.average)
    paths = save_context_statistics(stats, args.out)
    plot_context_statistics(stats, args.out, args.context_classes,
                            method='grid saliency' if args.method == 'grid' else args.method.upper())
    with open(paths[2]) as f:
        print(f.read(), end='')
    print(f'context statistics of {sum(stats["samples"])} requests written to {args.out}')


if __name__ == '__main__':
    main()
