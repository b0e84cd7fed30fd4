"""Test (and evaluate) a segmentor: MMSeg's tools/test.py, plus CPU-only distributed launch."""
import argparse
import os

from mmengine.config import DictAction

from mmseg_bias.apis import test


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor (mmseg-bias)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation metrics are dumped as json')
    parser.add_argument('--out', help='directory to save predictions for offline evaluation')
    parser.add_argument('--show-dir', help='directory where painted predictions are saved')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    test(args.config, args.checkpoint, work_dir=args.work_dir, out=args.out, show_dir=args.show_dir,
         tta=args.tta, cfg_options=args.cfg_options, launcher=args.launcher)


if __name__ == '__main__':
    main()
