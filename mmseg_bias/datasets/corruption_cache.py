"""Precompute slow corruptions to disk in parallel worker processes.

The robustness benchmark (``ImageCorruption(cache_root=...)``) reads cached images instead of
computing them; cached and computed images are identical (same seeding, lossless PNG).
"""
import os
import os.path as osp
from multiprocessing import get_context

import cv2
import mmcv
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS

from .transforms.corruption import ImageCorruption, cache_file

__all__ = ['dataset_image_paths', 'build_corruption_cache']


def dataset_image_paths(dataset_cfg):
    """Image paths of a dataset config (annotations are not read)."""
    init_default_scope('mmseg')
    cfg = dict(dataset_cfg, pipeline=[], lazy_init=False)
    dataset = DATASETS.build(cfg)
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def _cache_one(task):
    cache_root, corruption, severity, seed, img_path = task
    target = cache_file(cache_root, corruption, severity, seed, img_path)
    if osp.isfile(target):
        return False
    img = ImageCorruption(corruption, severity, seed).corrupt(mmcv.imread(img_path), img_path)
    os.makedirs(osp.dirname(target), exist_ok=True)
    tmp = f'{target}.{os.getpid()}.tmp.png'
    cv2.imwrite(tmp, img)
    os.replace(tmp, target)
    return True


def build_corruption_cache(img_paths, corruptions, severities, cache_root, seed=0, workers=2):
    """Write every (corruption, severity 1-5, image) not yet cached; returns how many were written.

    Args:
        img_paths (list[str]): images (e.g. :func:`dataset_image_paths` of the test set).
        workers (int): worker processes (0: in this process).
    """
    tasks = [(cache_root, c, s, seed, p) for c in corruptions for s in severities if s > 0
             for p in img_paths]
    bar = ProgressBar(len(tasks))
    written = 0
    if workers > 0:
        with get_context('spawn').Pool(workers) as pool:
            for done in pool.imap_unordered(_cache_one, tasks, chunksize=4):
                written += done
                bar.update()
    else:
        for task in tasks:
            written += _cache_one(task)
            bar.update()
    return written
