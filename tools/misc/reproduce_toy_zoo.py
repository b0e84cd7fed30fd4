"""Reproduce the toy zoo on CPU: train, publish and evaluate the Texture-MNIST models, then rewrite
the results table of configs/toy/README.md and the metrics of configs/toy/metafile.yaml.

    python tools/misc/reproduce_toy_zoo.py [--out work_dirs/toy_zoo] [--seed 0] [--iters N]
        [--batch-size N] [--workers N] [--num-train N] [--num-test N] [--models NAME ...]
        [--no-docs]

Models: baseline U-Net, DropClass, IBE and SCrIBE (configs/toy/). Data: Texture-MNIST with digit
3 strongly biased to one background texture, generated into OUT/data. Writes OUT/zoo/*.pth
(published checkpoints), OUT/<model>/ (training work dir, stage files) and
OUT/results.{json,csv,md}; a second run resumes from what OUT holds. The README table and the
metafile are written from the measured numbers only, unless --no-docs; to write them, --out must
lie inside the repository so that the weights' paths can be recorded. By default every model
trains its config's schedule (configs/toy/unet_texture_mnist.py: 2000 iterations of 16 images);
--iters shortens it for a quick look (the config's LR milestone stays where it is).
"""
import argparse
import os.path as osp
import shlex
import sys

from mmseg_bias.zoo.toy_zoo import TOY_DATA, TOY_MODELS, reproduce_toy_zoo, update_toy_docs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'toy_zoo'),
                        help='output folder (default work_dirs/toy_zoo)')
    parser.add_argument('--seed', type=int, default=0, help='training seed of every model')
    parser.add_argument('--iters', type=int, help="training iterations (default: each config's)")
    parser.add_argument('--batch-size', type=int, help="training batch (default: each config's)")
    parser.add_argument('--workers', type=int, help="dataloader workers (default: each config's)")
    parser.add_argument('--num-train', type=int, default=TOY_DATA['num_train'],
                        help=f'training images (default {TOY_DATA["num_train"]}; paper 50000)')
    parser.add_argument('--num-test', type=int, default=TOY_DATA['num_test'],
                        help=f'images per test set (default {TOY_DATA["num_test"]}; paper 1000)')
    names = [name for name, _ in TOY_MODELS]
    parser.add_argument('--models', nargs='+', choices=names, default=names,
                        help='models to reproduce (default all: ' + ' '.join(names) + ')')
    parser.add_argument('--no-docs', action='store_true',
                        help='do not rewrite configs/toy/README.md and configs/toy/metafile.yaml')
    return parser, parser.parse_args(argv)


def _command(argv):
    """The command line as a user would type it from the repository root."""
    return ' '.join(['python tools/misc/reproduce_toy_zoo.py', *map(shlex.quote, argv)])


def main(argv=None):
    parser, args = parse_args(argv)
    for option in ('iters', 'batch_size', 'num_train', 'num_test'):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f'--{option.replace("_", "-")} must be at least 1, got {value}')
    out = osp.abspath(args.out)
    if not args.no_docs and osp.relpath(out, REPO).startswith('..'):
        parser.error(f'--out {args.out} lies outside the repository, so the README and metafile '
                     'could not point to its checkpoints; choose a folder inside it or --no-docs')
    data = dict(TOY_DATA, num_train=args.num_train, num_test=args.num_test)
    models = [(name, config) for name, config in TOY_MODELS if name in args.models]
    try:
        results = reproduce_toy_zoo(out, models=models, data=data, seed=args.seed,
                                    iters=args.iters, batch_size=args.batch_size,
                                    workers=args.workers, root=REPO,
                                    command=_command(sys.argv[1:] if argv is None else argv))
    except (FileExistsError, ValueError) as exc:  # an --out folder made with other settings
        parser.error(str(exc))
    if not args.no_docs:
        update_toy_docs(results, osp.join(REPO, 'configs', 'toy', 'README.md'),
                        osp.join(REPO, 'configs', 'toy', 'metafile.yaml'), REPO)
    with open(osp.join(out, 'results.md')) as f:
        print(f.read(), end='')
    print(f'toy zoo reproduced in {results["seconds"]:.0f} s; written to {out}')


if __name__ == '__main__':
    main()
