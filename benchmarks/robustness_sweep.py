"""Cost of the full ImageNet-C sweep (15 corruptions x 5 severities) relative to clean evaluation.

On a generated Cityscapes-layout dataset and HRNet-W18-Small (random weights: the cost does not
depend on them), measures
- sweep_ratio: wall time of the whole sweep — building the cache of the slow corruptions with
  worker processes, then the 75 conditions as one pass of one dataloader whose workers corrupt
  the next images while the model runs — divided by 75 clean evaluations
  (target <= 1.5);
- cached_sweep_ratio: the same sweep once every condition is cached (target <= 1.1).

    python benchmarks/robustness_sweep.py [--quick] [--workers 2]

The last line printed is one JSON object with both ratios.
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests'))  # the dataset factory lives with the tests

import datafactory  # noqa: E402

from mmseg_bias.apis import evaluate, init_segmentor  # noqa: E402
from mmseg_bias.datasets.corruption_cache import (build_corruption_cache,  # noqa: E402
                                                  dataset_image_paths)
from mmseg_bias.datasets.transforms import BENCHMARK_CORRUPTIONS, SLOW_CORRUPTIONS  # noqa: E402
from mmseg_bias.evaluation.robustness import run_robustness  # noqa: E402

SEVERITIES = [1, 2, 3, 4, 5]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='4 images of 128x256 (a few minutes)')
    parser.add_argument('--workers', type=int, default=2, help='cache and dataloader workers')
    args = parser.parse_args()
    n_images, size = (4, (128, 256)) if args.quick else (8, (256, 512))
    work = tempfile.mkdtemp(prefix='robustness_sweep_')
    data = datafactory.write_cityscapes(osp.join(work, 'data'), n_train=1, n_val=n_images,
                                        size=size)
    config = datafactory.write_tiny_config(osp.join(work, 'tiny.py'), datafactory.TINY_BASE, data,
                                           crop=size)
    model = init_segmentor(config)
    loader = model.cfg.test_dataloader
    loader.update(num_workers=args.workers, persistent_workers=False)

    def clean_evaluation():
        return evaluate(model, progress=False, dataloader=loader)

    clean_evaluation()  # warm-up
    clean = min(timed(clean_evaluation) for _ in range(3))
    paths = dataset_image_paths(loader.dataset)
    print(f'{n_images} images {size[0]}x{size[1]}, {args.workers} workers: clean evaluation '
          f'{clean:.2f} s', flush=True)

    cache = osp.join(work, 'cache')
    start = time.perf_counter()
    build_corruption_cache(paths, SLOW_CORRUPTIONS, SEVERITIES, cache, workers=args.workers)
    run_robustness(model, osp.join(work, 'sweep'), BENCHMARK_CORRUPTIONS, SEVERITIES,
                   cache_root=cache, dataloader=loader, progress=False)
    sweep = time.perf_counter() - start
    print(f'\nsweep (slow corruptions cached by workers first): {sweep:.1f} s', flush=True)

    build_corruption_cache(paths, BENCHMARK_CORRUPTIONS, SEVERITIES, cache, workers=args.workers)
    cached = timed(run_robustness, model, osp.join(work, 'sweep_cached'), BENCHMARK_CORRUPTIONS,
                   SEVERITIES, cache_root=cache, dataloader=loader, progress=False)
    print(f'\nsweep with every condition cached: {cached:.1f} s', flush=True)
    conditions = len(BENCHMARK_CORRUPTIONS) * len(SEVERITIES)
    print(json.dumps({'sweep_ratio': round(sweep / (conditions * clean), 3),
                      'cached_sweep_ratio': round(cached / (conditions * clean), 3)}))


if __name__ == '__main__':
    main()
