"""Texture-MNIST (grid saliency, supp. §S1): textured digits on textured backgrounds, 11 classes.

Layout written by :func:`mmseg_bias.toy.generate_texture_mnist` (or
``tools/dataset_converters/texture_mnist.py``)::

    <data_root>/img_dir/<split>/<id>.png    grey 64x64 image
    <data_root>/ann_dir/<split>/<id>.png    label: 0 = background, 1 + d = digit d
    <data_root>/bias_dir/<split>/<id>.png   1 where the bias texture is visible (all 0 if none)
    <data_root>/meta/<split>/<id>.json      digit, textures, background tiles, biased tile
    <data_root>/splits/<split>.txt          ids of the split (train, test, test_biased)
    <data_root>/meta.json                   generation parameters (written last)

With ``with_meta=True`` each sample also carries ``digit``, ``biased_tile`` (index or None),
``bias_texture`` (name or None) and ``bias_mask_path``; add them to ``PackSegInputs``'s
``meta_keys`` to see them in ``data_sample.metainfo``.
"""
import os.path as osp

from mmengine.fileio import load
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

__all__ = ['TextureMNISTDataset', 'CLASSES', 'digit_class', 'META_KEYS']

CLASSES = ('background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')
META_KEYS = ('digit', 'biased_tile', 'bias_texture', 'bias_mask_path')


def digit_class(digit):
    """Class index of ``digit`` (0-9): background is class 0, digit d is class d + 1."""
    return int(digit) + 1


@DATASETS.register_module()
class TextureMNISTDataset(BaseSegDataset):
    """A split of Texture-MNIST.

    Args:
        split (str, optional): 'train', 'test' (unbiased) or 'test_biased'; sets ``ann_file``
            (``splits/<split>.txt``) and ``data_prefix`` when they are not given.
        with_meta (bool): read each image's metadata JSON into its data info.
        **kwargs: as :class:`mmseg.datasets.BaseSegDataset`.
    """

    METAINFO = dict(
        classes=CLASSES,
        palette=[[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                 [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                 [210, 245, 60], [250, 190, 212]])

    def __init__(self, split=None, with_meta=False, img_suffix='.png', seg_map_suffix='.png',
                 **kwargs):
        self.split = split
        self.with_meta = with_meta
        if split is not None:
            kwargs.setdefault('ann_file', osp.join('splits', f'{split}.txt'))
            kwargs.setdefault('data_prefix', dict(img_path=osp.join('img_dir', split),
                                                  seg_map_path=osp.join('ann_dir', split)))
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)

    def load_data_list(self):
        if self.ann_file and not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{self.ann_file} does not exist: generate the dataset first with '
                'tools/dataset_converters/texture_mnist.py --out <data_root>')
        data_list = super().load_data_list()
        if self.with_meta:
            root = self.data_root or ''
            for info in data_list:
                stem = osp.splitext(osp.basename(info['img_path']))[0]
                split = osp.basename(osp.dirname(info['img_path']))
                meta = load(osp.join(root, 'meta', split, f'{stem}.json'))
                info.update(digit=meta['digit'], biased_tile=meta['biased_tile'],
                            bias_texture=meta['bias_texture'],
                            bias_mask_path=osp.join(root, meta['bias_mask']))
        return data_list
