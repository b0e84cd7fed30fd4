"""Publish a trained checkpoint: keep the weights and plain metadata, name the file by its sha256.

    python tools/misc/publish_model.py IN OUT

reads IN (a checkpoint written by tools/train.py), drops optimizer, message-hub, scheduler and EMA
state, keeps meta (config text, class names, palette, seed, iteration) plus the mmseg_bias / mmseg /
mmengine / torch versions, and writes OUT-<first 8 hex of its sha256>.pth (a trailing .pth in OUT
is dropped). An existing file is never overwritten. Load the result with
``mmseg.apis.init_model(config, 'OUT-xxxxxxxx.pth')`` or ``tools/test.py CONFIG OUT-xxxxxxxx.pth``.
"""
import argparse

from mmseg_bias.compat import UnsafeCheckpointError
from mmseg_bias.zoo import publish_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('in_file', metavar='IN', help='checkpoint written by tools/train.py')
    parser.add_argument('out_file', metavar='OUT',
                        help='output stem, e.g. zoo/hrnet_w48_cityscapes (-> zoo/hrnet_w48_'
                             'cityscapes-<hash>.pth)')
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        path, sha256 = publish_checkpoint(args.in_file, args.out_file)
    except (FileNotFoundError, FileExistsError, ValueError, UnsafeCheckpointError) as exc:
        parser.error(str(exc))
    print(f'{path}\nsha256 {sha256}')


if __name__ == '__main__':
    main()
