"""ClassErasure: erases exactly the named classes from the image and ignores them in the label."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS
from PIL import Image

import datafactory
from helpers import REPO
from mmseg_bias.datasets.transforms.class_erasure import (IMAGENET_MEAN_BGR, ClassErasure,
                                                          compose_label_map, resolve_classes)

PALETTE = np.array(CityscapesDataset.METAINFO['palette'], np.uint8)  # RGB per class
ROAD, BUILDING, SKY, CAR = 0, 2, 10, 13


def _scene():
    """A 64x128 label with road, building, sky, a car and an ignore strip; image = class colours."""
    label = np.full((64, 128), BUILDING, np.uint8)
    label[:20] = SKY
    label[44:] = ROAD
    label[36:52, 30:70] = CAR
    label[:, 120:] = 255
    image = np.where(label[..., None] == 255, 90, PALETTE[np.minimum(label, 18)]).astype(np.uint8)
    return image, label


@pytest.fixture(scope='module')
def scene_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('erasure_cityscapes'))
    image, label = _scene()
    for split in ('train', 'val'):
        stem = osp.join(root, '{}', split, 'c', 'c_000000_000000_{}.png')
        for path, array in ((stem.format('leftImg8bit', 'leftImg8bit'), image),
                            (stem.format('gtFine', 'gtFine_labelTrainIds'), label)):
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(array).save(path)
    return root


def _dataset(dataset_cfg, erasure):
    """The dataset with ClassErasure inserted after LoadImageFromFile of its test pipeline."""
    init_default_scope('mmseg')
    cfg = dict(dataset_cfg)
    pipeline = list(cfg['pipeline'])
    cfg['pipeline'] = pipeline[:1] + [dict(type='ClassErasure', **erasure)] + pipeline[1:]
    return DATASETS.build(cfg)


def _erased_image(dataset, i=0):
    """``img`` right after LoadImageFromFile -> ClassErasure (original resolution, BGR)."""
    return Compose(dataset.pipeline.transforms[:2])(dataset.get_data_info(i))['img']


@pytest.fixture(scope='module')
def tiny_cfg(scene_root, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('erasure_cfg') / 'tiny.py')
    return Config.fromfile(datafactory.write_tiny_config(path, datafactory.TINY_BASE, scene_root))


@pytest.mark.parametrize('fill', ['mean', 'constant', 'inpaint'])
def test_erases_exactly_the_named_classes(tiny_cfg, fill):
    image, label = _scene()
    bgr = image[..., ::-1]
    erasure = dict(classes=['road', 'car'], class_names='CityscapesDataset', fill=fill)
    if fill == 'constant':
        erasure['value'] = (1, 2, 3)
    dataset = _dataset(tiny_cfg.test_dataloader.dataset, erasure)
    img = _erased_image(dataset)
    erased = np.isin(label, [ROAD, CAR])
    np.testing.assert_array_equal(img[~erased], bgr[~erased])  # every other pixel untouched
    if fill == 'inpaint':  # filled from the surroundings: far from the erased classes' colours
        assert np.abs(img[erased].astype(int) - bgr[erased]).mean() > 30
    else:
        expected = (1, 2, 3) if fill == 'constant' else np.array(IMAGENET_MEAN_BGR).astype(np.uint8)
        assert (img[erased] == expected).all()
    # the label after the whole pipeline (Resize, LoadAnnotations, PackSegInputs): erased -> 255
    gt = dataset[0]['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt, np.where(erased, 255, label))


def test_indices_names_and_errors():
    assert ClassErasure(classes=[13, 0]).classes == [0, 13]
    assert ClassErasure(classes='car', class_names=CityscapesDataset.METAINFO['classes']).classes \
        == [CAR]
    assert resolve_classes(['sky', '0', 2], CityscapesDataset.METAINFO['classes']) == [0, 2, 10]
    with pytest.raises(ValueError, match="unknown class 'cars'"):
        ClassErasure(classes='cars', class_names='CityscapesDataset')
    with pytest.raises(ValueError, match='need class_names'):
        ClassErasure(classes='car')
    with pytest.raises(ValueError, match='not a class name or an index'):
        resolve_classes([19], CityscapesDataset.METAINFO['classes'])
    with pytest.raises(ValueError, match='fill must be one of'):
        ClassErasure(classes=[0], fill='blur')
    with pytest.raises(KeyError, match='registered dataset type'):
        ClassErasure(classes='car', class_names='NoSuchDataset')


def test_composed_label_map():
    assert compose_label_map(None, [3]) == {3: 255}
    # VOC without background: raw 0 -> 255, raw k -> k-1; erasing class 1 ignores raw id 2
    voc = {0: 255, 1: 0, 2: 1, 3: 2}
    assert compose_label_map(voc, [1]) == {0: 255, 1: 0, 2: 255, 3: 2}
    assert compose_label_map({5: 3}, [3]) == {5: 255, 3: 255}  # raw 3 is also class 3


@pytest.mark.parametrize('mode', ['label_map', 'reduce_zero_label'])
def test_honours_label_map_and_reduce_zero_label(voc_root, mode):
    """VOC as the paper trains it (background ignored): the erased class is the shifted id."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets',
                                   'voc12aug_20cls_480x480.py'))
    dataset_cfg = dict(cfg.val_dataloader.dataset, data_root=voc_root, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')])
    if mode == 'reduce_zero_label':  # 21 stock classes, ids reduced by one instead of a label_map
        dataset_cfg.pop('metainfo')
        dataset_cfg['reduce_zero_label'] = True
    probe = _dataset(dataset_cfg, dict(classes=[0]))
    raw = np.array(Image.open(probe.get_data_info(0)['seg_map_path']))
    present = sorted(set(np.unique(raw).tolist()) - {0, 255})
    target = present[0] - 1  # class index after dropping background
    dataset = _dataset(dataset_cfg, dict(classes=[target], fill='constant', value=7))
    img = _erased_image(dataset)
    erased = raw == present[0]
    assert erased.any() and (img[erased] == 7).all() and (img[~erased] != 7).any()
    gt = dataset[0]['data_samples'].gt_sem_seg.data[0].numpy()
    expected = np.where((raw == 0) | (raw == 255) | erased, 255, raw.astype(int) - 1)
    np.testing.assert_array_equal(gt, expected)


def test_digit_strings_are_class_names_first():
    """Texture-MNIST's classes are digits: '3' is the class named 3 (index 4), 10 is an index."""
    from mmseg_bias.datasets.texture_mnist import CLASSES
    assert resolve_classes(['3', 10], CLASSES) == [4, 10]
    assert resolve_classes('12', [f'c{i}' for i in range(13)]) == [12]
