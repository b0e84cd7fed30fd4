"""The test-data factory writes datasets that mmseg's own dataset classes read."""
import numpy as np
from mmengine.registry import init_default_scope

import datafactory


def _build(cfg):
    import mmseg_bias  # noqa: F401
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(cfg)


def test_cityscapes_layout_is_read_by_mmseg(cityscapes_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    ds = _build(dict(type='CityscapesDataset', data_root=cityscapes_root, pipeline=pipeline,
                     data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')))
    assert len(ds) == 4
    sample = ds[0]
    label = sample['data_samples'].gt_sem_seg.data.numpy()
    assert sample['inputs'].shape == (3, 64, 128)
    assert (label == 255).any()
    assert label[label != 255].max() < datafactory.CITYSCAPES_CLASSES


def test_voc_layout_is_read_by_mmseg(voc_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    ds = _build(dict(type='PascalVOCDataset', data_root=voc_root, pipeline=pipeline,
                     data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                     ann_file='ImageSets/Segmentation/val.txt'))
    assert len(ds) == 2
    label = ds[1]['data_samples'].gt_sem_seg.data.numpy()
    assert (label == 0).any() and (label == 255).any()
    assert set(np.unique(label)) <= set(range(datafactory.VOC_CLASSES)) | {255}


def test_scenes_are_deterministic_for_a_seed():
    a = datafactory.make_scene(np.random.default_rng(3), (32, 48), 19)
    b = datafactory.make_scene(np.random.default_rng(3), (32, 48), 19)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
