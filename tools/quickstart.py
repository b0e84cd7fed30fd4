"""`make quickstart`: a tiny end-to-end run on a generated Cityscapes-layout dataset (CPU, under a
minute) that checks an installation.

Writes the dataset, trains HRNet-W18-Small through the mmengine Runner, evaluates with mmseg's
IoUMetric and prints the mIoU. (`make demo` is the project's main job, the bias audit.)
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests'))  # the tiny-dataset factory lives with the tests

import datafactory  # noqa: E402

from mmseg_bias.apis import test, train  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'quickstart'))
    parser.add_argument('--iters', type=int, default=200, help='training iterations')
    args = parser.parse_args(argv)

    data_root = datafactory.write_cityscapes(osp.join(args.work_dir, 'data'), n_train=48, n_val=8)
    config = datafactory.write_tiny_config(osp.join(args.work_dir, 'config', 'quickstart_config.py'),
                                           datafactory.TINY_BASE, data_root, iters=args.iters)
    train(config, work_dir=args.work_dir, cfg_options={'optim_wrapper.optimizer.lr': 0.05})
    metrics = test(config, osp.join(args.work_dir, f'iter_{args.iters}.pth'),
                   work_dir=args.work_dir)
    print(f'quickstart finished: mIoU {metrics["mIoU"]:.2f} after {args.iters} iterations '
          f'(work dir: {args.work_dir})')


if __name__ == '__main__':
    main()
