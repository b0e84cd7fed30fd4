"""Build the SCrIBE training split: VOC 2012 train + SBD train minus VOC val (7087 images).

    python tools/dataset_converters/voc_sbd_noval.py data/VOCdevkit/VOC2012 data/benchmark_RELEASE/dataset
"""
import argparse

from mmseg_bias.datasets.voc_sbd import convert_sbd_noval


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('voc_root', help='VOCdevkit/VOC2012 folder')
    parser.add_argument('sbd_root', help='SBD benchmark_RELEASE/dataset folder (cls/, img/, train.txt)')
    args = parser.parse_args(argv)
    ids = convert_sbd_noval(args.voc_root, args.sbd_root)
    print(f'\nwrote {len(ids)} SBD train_noval images; training set = VOC train + these')


if __name__ == '__main__':
    main()
