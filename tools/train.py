"""Train a segmentor: MMSeg's tools/train.py, plus CPU-only distributed launch (mmseg_bias.compat)."""
import argparse
import os

from mmengine.config import DictAction

from mmseg_bias.apis import train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor (mmseg-bias)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', const=True, default=False,
                        help='resume from the latest checkpoint in the work_dir, or from the given one')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. train_cfg.max_iters=100)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    train(args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
          cfg_options=args.cfg_options, launcher=args.launcher)


if __name__ == '__main__':
    main()
