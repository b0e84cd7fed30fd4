"""Precompute corrupted test images (the slow corruptions by default) in parallel workers.

    python tools/robustness/cache_corruptions.py CONFIG --out CACHE_DIR [--corruptions ...]
        [--severities 1 2 3 4 5] [--workers 8] [--seed 0]

Then: python tools/test_robustness.py CONFIG CHECKPOINT --cache CACHE_DIR ...
"""
import argparse

from mmseg_bias.apis import read_config

from mmseg_bias.datasets.corruption_cache import build_corruption_cache, dataset_image_paths
from mmseg_bias.datasets.transforms import SLOW_CORRUPTIONS, resolve_corruptions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config whose test_dataloader dataset is cached')
    parser.add_argument('--out', required=True, help='cache folder')
    parser.add_argument('--corruptions', default=','.join(SLOW_CORRUPTIONS))
    parser.add_argument('--severities', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0, help='must match test_robustness.py --seed')
    args = parser.parse_args(argv)
    if any(s not in range(1, 6) for s in args.severities):
        parser.error('--severities must lie in 1-5')
    paths = dataset_image_paths(read_config(args.config).test_dataloader.dataset)
    written = build_corruption_cache(paths, resolve_corruptions(args.corruptions), args.severities,
                                     args.out, seed=args.seed, workers=args.workers)
    print(f'\ncached {written} new images ({len(paths)} test images) in {args.out}')


if __name__ == '__main__':
    main()
