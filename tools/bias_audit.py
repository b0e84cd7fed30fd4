"""Bias audit: every analysis of mmseg-bias on one or more models, in one self-contained HTML report.

    python tools/bias_audit.py                    # the default demo on Texture-MNIST (CPU)
    python tools/bias_audit.py CONFIG CHECKPOINT [CONFIG CHECKPOINT ...] [--names A B ...]
        [--work-dir DIR] [--sections KEY ...] [--dataset-split test|val|train] [--max-images N]
        [--full | --corruptions NAMES --severities S ...] [--device cpu] [--cfg-options K=V ...]

With no model, generates a strongly biased Texture-MNIST set and its unbiased test set, trains a
baseline, a DropClass and an IBE U-Net briefly on CPU, then audits them (``--demo-*`` options
size it). With CONFIG CHECKPOINT pairs, audits those models side by side (the first is the
reference; all are evaluated on the first config's dataset classes).

Writes ``DIR/report.html`` (figures embedded), ``DIR/timings.json`` and every stage's numbers,
tables and figures under ``DIR/stages``; a rerun reuses every finished stage and resumes an
unfinished one. Sections: frequency, iou, vulnerability, similarity, robustness, logits,
saliency, context_bias.
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.config import DictAction

from mmseg_bias.audit import SECTIONS, AuditModel, AuditOptions, run_audit
from mmseg_bias.audit.toy import DEMO_CONFIGS, DemoSettings, prepare_demo
from mmseg_bias.datasets.transforms.corruption import BENCHMARK_CORRUPTIONS
from mmseg_bias.datasets.transforms.class_erasure import ClassErasure


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('models', nargs='*', metavar='CONFIG CHECKPOINT',
                        help='config and checkpoint pairs (none: the Texture-MNIST demo)')
    parser.add_argument('--names', nargs='+', help='one name per model (default: config names)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<name>, '
                        'work_dirs/audit_texture_mnist for the demo)')
    parser.add_argument('--sections', nargs='+', choices=list(SECTIONS), metavar='SECTION',
                        help=f'run only these sections ({", ".join(SECTIONS)}); default all')
    parser.add_argument('--dataset-split', default='test', choices=['test', 'val', 'train'],
                        help="dataloader the models are evaluated on (default: the config's test)")
    parser.add_argument('--max-images', type=int, help='evaluate on the first N images only')
    parser.add_argument('--frequency-split', default='train', choices=['train', 'val', 'test'],
                        help='split the class frequency is counted on (default train, as DropClass)')
    parser.add_argument('--by', default='pixel', choices=['pixel', 'instance'],
                        help='frequency measure (pixel: Cityscapes in DropClass; instance: VOC)')
    parser.add_argument('--full', action='store_true',
                        help='all 15 benchmark corruptions x severities 1-5 (75 conditions) '
                        'instead of the reduced set')
    parser.add_argument('--corruptions', help='comma-separated corruptions (default: '
                        'gaussian_noise,defocus_blur,fog,contrast)')
    parser.add_argument('--severities', type=int, nargs='+', choices=range(1, 6),
                        help='corruption severities (default 1 3 5; clean is always run)')
    parser.add_argument('--erase', nargs='+', help="classes erased in I* (default: the most "
                        "influential class), or 'top' (each class's Top-k influencers)")
    parser.add_argument('--matrix-classes', nargs='+',
                        help='classes erased for the influence matrix (default all)')
    parser.add_argument('--fill', default='mean', choices=ClassErasure.FILLS,
                        help='how erased pixels are filled (default mean colour)')
    parser.add_argument('--saliency-images', type=int, default=8,
                        help='images explained per model (default 8; on a biased Texture-MNIST '
                        'set half show the biased digit)')
    parser.add_argument('--saliency-classes', nargs='+', help='request classes (default: the '
                        "paper's 7 Cityscapes classes if present, else all but class 0)")
    parser.add_argument('--saliency-source', default='pred', choices=['pred', 'gt'],
                        help="explain the model's predicted objects (default, the paper) or the "
                        'ground-truth ones')
    parser.add_argument('--saliency-steps', type=int, default=100,
                        help='grid-saliency SGD steps (default 100, the paper)')
    parser.add_argument('--gradient-samples', type=int, default=25,
                        help='IG steps and SmoothGrad samples (default 25, the paper)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:0', ...")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every config, key=value (as MMSeg tools)')
    parser.add_argument('--link-figures', action='store_true',
                        help='link the figures instead of embedding them in the HTML')
    demo = parser.add_argument_group('demo (no CONFIG CHECKPOINT)')
    demo.add_argument('--demo-iters', type=int, help='training iterations per model')
    demo.add_argument('--demo-train', type=int, help='training images generated')
    demo.add_argument('--demo-test', type=int, help='unbiased test images generated')
    demo.add_argument('--demo-models', nargs='+', choices=list(DEMO_CONFIGS),
                      help='models to train and audit, the first the reference (default: '
                      f'{" ".join(DemoSettings.models)})')
    args = parser.parse_args(argv)
    if len(args.models) % 2:
        parser.error('models come in CONFIG CHECKPOINT pairs; got an odd number of paths')
    pairs = list(zip(args.models[::2], args.models[1::2]))
    if args.names and len(args.names) != len(pairs):
        parser.error(f'--names needs one name per model ({len(pairs)}), got {len(args.names)}')
    if pairs and any(v is not None for v in (args.demo_iters, args.demo_train, args.demo_test,
                                              args.demo_models)):
        parser.error('--demo-* options size the default demo; drop them when auditing '
                     'CONFIG CHECKPOINT pairs')
    if args.full and (args.corruptions or args.severities):
        parser.error('--full runs all 75 conditions; drop --corruptions/--severities or --full')
    args.pairs = pairs
    return args


def build_options(args):
    extra = {}
    if args.full:
        extra.update(corruptions=list(BENCHMARK_CORRUPTIONS), severities=[1, 2, 3, 4, 5])
    if args.corruptions:
        extra['corruptions'] = args.corruptions.split(',')
    if args.severities:
        extra['severities'] = args.severities
    erase = args.erase
    if erase == ['top']:
        erase = 'top'
    return AuditOptions(split=args.dataset_split, max_images=args.max_images, device=args.device,
                        cfg_options=args.cfg_options, frequency_split=args.frequency_split,
                        by=args.by, erase=erase, matrix_classes=args.matrix_classes,
                        fill=args.fill, saliency_images=args.saliency_images,
                        saliency_classes=args.saliency_classes,
                        saliency_source=args.saliency_source,
                        saliency_steps=args.saliency_steps,
                        gradient_samples=args.gradient_samples, **extra)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        options = build_options(args)
        if args.pairs:
            names = args.names or [osp.splitext(osp.basename(c))[0] for c, _ in args.pairs]
            models = [AuditModel(n, c, k) for n, (c, k) in zip(names, args.pairs)]
            work_dir = args.work_dir or osp.join('work_dirs', f'audit_{names[0]}')
            timings, title = {}, f'Bias audit: {", ".join(names)}'
        else:
            work_dir = args.work_dir or osp.join('work_dirs', 'audit_texture_mnist')
            sizes = {k: v for k, v in (('iters', args.demo_iters), ('num_train', args.demo_train),
                                       ('num_test', args.demo_test)) if v is not None}
            if args.demo_models:
                sizes['models'] = tuple(args.demo_models)
            models, timings = prepare_demo(work_dir, DemoSettings(**sizes))
            title = 'Bias audit: the Texture-MNIST demo'
        result = run_audit(models, work_dir, options, sections=args.sections, title=title,
                           timings=timings, embed=not args.link_figures)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as error:
        # a KeyError's str() quotes its message
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise SystemExit(f'error: {message}')
    failed = [k for k, v in result['status'].items() if v == 'failed']
    print(f'report: {result["report"]} ({time.perf_counter() - start:.0f} s)')
    for key, status in result['status'].items():
        print(f'  {key}: {status}')
    if failed:
        sys.exit(f'error: section(s) {", ".join(failed)} failed; see the log above and the report')


if __name__ == '__main__':
    main()
