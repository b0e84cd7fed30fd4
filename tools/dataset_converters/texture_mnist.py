"""Generate Texture-MNIST (grid saliency supp. §S1), optionally with a planted context bias.

    python tools/dataset_converters/texture_mnist.py --out data/texture_mnist
        [--bias 3:checker_8[,7:stripes_diag_8]] [--strength strong|weak]
        [--num-train 50000] [--num-test 1000] [--seed 0] [--test-seed 0]
        [--tile-size 64] [--split 2|4] [--orientation vertical|horizontal]
        [--mnist-root DIR] [--texture-dir DIR] [--contrast 0.2] [--no-normalise]

Writes img_dir/, ann_dir/ (0 background, 1 + d digit d), bias_dir/ (biased-tile masks), meta/
(one JSON per image), splits/{train,test[,test_biased]}.txt and meta.json (last) under --out.
Without --mnist-root the digits are rendered (no download); with it, MNIST's IDX files are used.
Run again with the same options to reuse a finished dataset.
"""
import argparse

from mmseg_bias.toy import STRENGTHS, generate_texture_mnist
from mmseg_bias.toy.textures import TEXTURES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--bias', default='', help="DIGIT:TEXTURE pairs, e.g. '3:checker_8' or "
                        "'3:0,7:1' (texture name or pool index); default: no bias. Textures: "
                        + ', '.join(t[0] for t in TEXTURES))
    parser.add_argument('--strength', default='strong', choices=STRENGTHS,
                        help='strong: bias textures appear nowhere else (default); weak: they may')
    parser.add_argument('--num-train', type=int, default=50000, help='paper: 50000')
    parser.add_argument('--num-test', type=int, default=1000, help='paper: 1000')
    parser.add_argument('--seed', type=int, default=0, help='training-set seed')
    parser.add_argument('--test-seed', type=int, default=0, help='seed of the fixed test sets')
    parser.add_argument('--tile-size', type=int, default=64, help='image side (paper: 64)')
    parser.add_argument('--split', type=int, default=2, choices=(2, 4),
                        help='background tiles: 2 halves (paper) or 4 quadrants')
    parser.add_argument('--orientation', default='vertical', choices=('vertical', 'horizontal'),
                        help='halves side by side (default) or stacked; not in the paper')
    parser.add_argument('--mnist-root', help='folder with MNIST IDX files (default: rendered '
                        'digits, no download)')
    parser.add_argument('--texture-dir', help='folder of texture images (default: the 25 '
                        'procedural textures)')
    parser.add_argument('--texture-size', type=int, default=512,
                        help='procedural texture side (paper: >= 400)')
    parser.add_argument('--contrast', type=float, default=0.2,
                        help='texture standard deviation after normalisation (grey 0-1)')
    parser.add_argument('--no-normalise', action='store_true',
                        help='keep textures\' own brightness and contrast')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        meta = generate_texture_mnist(
            args.out, bias=args.bias, strength=args.strength, num_train=args.num_train,
            num_test=args.num_test, seed=args.seed, test_seed=args.test_seed,
            tile_size=args.tile_size, split=args.split, orientation=args.orientation,
            mnist_root=args.mnist_root, texture_dir=args.texture_dir,
            texture_size=args.texture_size, normalise=not args.no_normalise,
            contrast=args.contrast)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        raise SystemExit(f'error: {e}')
    counts = {split: sum(c) for split, c in meta['digit_counts'].items()}
    print(f'Texture-MNIST in {args.out}: {counts}, bias {meta["params"]["bias"] or "none"} '
          f'({meta["params"]["strength"]}), digits {meta["params"]["digits"]}')


if __name__ == '__main__':
    main()
