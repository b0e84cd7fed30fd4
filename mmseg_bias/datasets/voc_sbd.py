"""Pascal VOC 2012 + SBD "train_noval": the SCrIBE paper's 7087-image training split.

VOC train (1464 images, VOC labels) + SBD train minus VOC val ("train_noval", 5623 images, SBD
labels) = 7087 training images; evaluation on VOC val (1449). :func:`convert_sbd_noval` writes the
SBD part into a VOC devkit so that ``configs/_base_/datasets/voc12_sbd_noval.py`` reads it.
"""
import os
import os.path as osp
import shutil

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

__all__ = ['sbd_noval_ids', 'convert_sbd_noval']

SBD_LABEL_DIR = 'SegmentationClassSBD'
SBD_SPLIT = 'sbd_train_noval.txt'


def _read_ids(path):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found; check --voc-root (.../VOCdevkit/VOC2012) and '
                                '--sbd-root (.../benchmark_RELEASE/dataset)')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def sbd_noval_ids(voc_root, sbd_root):
    """SBD train ids that are not in VOC val, in SBD's order."""
    val = set(_read_ids(osp.join(voc_root, 'ImageSets', 'Segmentation', 'val.txt')))
    return [i for i in _read_ids(osp.join(sbd_root, 'train.txt')) if i not in val]


def _sbd_label(mat_path):
    from scipy.io import loadmat
    return np.asarray(loadmat(mat_path)['GTcls']['Segmentation'][0, 0], dtype=np.uint8)


def convert_sbd_noval(voc_root, sbd_root):
    """Write SBD train_noval labels (PNG) and images into the VOC devkit; returns the ids.

    Writes ``<voc_root>/SegmentationClassSBD/<id>.png`` (8-bit class indices), copies missing
    images from ``<sbd_root>/img`` to ``<voc_root>/JPEGImages`` and writes
    ``<voc_root>/ImageSets/Segmentation/sbd_train_noval.txt`` last, so an interrupted conversion
    is never taken for a finished one. Files already converted are kept.
    """
    ids = sbd_noval_ids(voc_root, sbd_root)
    label_dir = osp.join(voc_root, SBD_LABEL_DIR)
    os.makedirs(label_dir, exist_ok=True)
    bar = ProgressBar(len(ids))
    for img_id in ids:
        png = osp.join(label_dir, f'{img_id}.png')
        if not osp.isfile(png):
            tmp = png + '.tmp.png'
            Image.fromarray(_sbd_label(osp.join(sbd_root, 'cls', f'{img_id}.mat'))).save(tmp)
            os.replace(tmp, png)
        jpg = osp.join(voc_root, 'JPEGImages', f'{img_id}.jpg')
        if not osp.isfile(jpg):
            shutil.copyfile(osp.join(sbd_root, 'img', f'{img_id}.jpg'), jpg + '.tmp')
            os.replace(jpg + '.tmp', jpg)
        bar.update()
    split = osp.join(voc_root, 'ImageSets', 'Segmentation', SBD_SPLIT)
    with open(split + '.tmp', 'w') as f:
        f.write('\n'.join(ids) + '\n')
    os.replace(split + '.tmp', split)
    return ids
