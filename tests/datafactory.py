"""Tiny datasets in the real on-disk layouts, and configs that train on them in seconds.

Imported by the tests as ``datafactory`` (pytest puts ``tests/`` on ``sys.path``; the mmseg wheel
installs its own top-level ``tests`` package, so we never import ``tests.*``).

Scenes are learnable on purpose: every class has its own mean colour, laid out as horizontal bands
and rectangles, with noise, and a ring of ignore (255) pixels around one rectangle.
"""
import os
import os.path as osp

import numpy as np
from PIL import Image

CITYSCAPES_CLASSES = 19
VOC_CLASSES = 21
IGNORE = 255
# A small stock config that trains in about a second an iteration on CPU at 64x128.
TINY_BASE = 'mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py'


def _class_colours(num_classes, seed=1234):
    """A fixed, distinct mean colour (uint8 RGB) per class."""
    rng = np.random.default_rng(seed)
    return rng.integers(20, 236, size=(num_classes, 3)).astype(np.int16)


def make_scene(rng, size, num_classes, background=None):
    """One synthetic image/label pair.

    Args:
        rng (np.random.Generator): randomness source.
        size (tuple[int, int]): (height, width) in pixels.
        num_classes (int): labels are drawn from ``range(num_classes)``.
        background (int, optional): if given, the whole image starts as this class (VOC style),
            otherwise as three horizontal bands (Cityscapes style).

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB uint8 image (H, W, 3) and uint8 label (H, W) with
        some 255 (ignore) pixels.
    """
    h, w = size
    label = np.empty((h, w), np.uint8)
    if background is None:
        bands = rng.choice(num_classes, size=3, replace=False)
        for i, cls in enumerate(bands):
            label[i * h // 3:(i + 1) * h // 3] = cls
    else:
        label[:] = background
    for k in range(int(rng.integers(2, 5))):
        rh, rw = int(rng.integers(h // 6, h // 2)), int(rng.integers(w // 8, w // 3))
        y, x = int(rng.integers(0, h - rh)), int(rng.integers(0, w - rw))
        cls = int(rng.integers(1 if background is not None else 0, num_classes))
        if k == 0:  # ignore ring around the first object, as annotation borders are in VOC
            label[max(y - 2, 0):y + rh + 2, max(x - 2, 0):x + rw + 2] = IGNORE
        label[y:y + rh, x:x + rw] = cls
    colours = _class_colours(max(num_classes, 1))
    image = np.full((h, w, 3), 128, np.int16)
    valid = label != IGNORE
    image[valid] = colours[label[valid]]
    image += rng.integers(-12, 13, size=image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_cityscapes(root, n_train=4, n_val=2, size=(64, 128), seed=0, city='tinycity'):
    """Write a Cityscapes-layout dataset (19 train ids) under ``root``; returns ``root``.

    Layout: ``leftImg8bit/{train,val}/<city>/<city>_000000_<i>_leftImg8bit.png`` and
    ``gtFine/{train,val}/<city>/<city>_000000_<i>_gtFine_labelTrainIds.png``.
    """
    rng = np.random.default_rng(seed)
    for split, n in (('train', n_train), ('val', n_val)):
        for i in range(n):
            image, label = make_scene(rng, size, CITYSCAPES_CLASSES)
            stem = f'{city}_000000_{i:06d}'
            Image.fromarray(image).save(_mkdirs(
                osp.join(root, 'leftImg8bit', split, city, f'{stem}_leftImg8bit.png')))
            Image.fromarray(label).save(_mkdirs(
                osp.join(root, 'gtFine', split, city, f'{stem}_gtFine_labelTrainIds.png')))
    return root


def voc_palette():
    """The standard Pascal VOC colour map (bit-interleaved), as a flat list of 768 ints."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def write_voc(root, n_train=4, n_val=2, size=(96, 96), seed=0):
    """Write a Pascal VOC 2012 layout under ``root/VOCdevkit/VOC2012``; returns that directory.

    ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette PNG, 21 classes, 255 borders)
    and ``ImageSets/Segmentation/{train,val,trainval}.txt``; plus the SBD "aug" labels as MMSeg's
    converter writes them (``SegmentationClassAug/<id>.png``, plain 8-bit, and ``aug.txt``) for
    the train images.
    """
    rng = np.random.default_rng(seed)
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    palette = voc_palette()
    splits = {}
    for split, n in (('train', n_train), ('val', n_val)):
        ids = [f'2007_{(0 if split == "train" else 500000) + i:06d}' for i in range(n)]
        splits[split] = ids
        for img_id in ids:
            image, label = make_scene(rng, size, VOC_CLASSES, background=0)
            Image.fromarray(image).save(_mkdirs(osp.join(voc, 'JPEGImages', f'{img_id}.jpg')),
                                        quality=95)
            seg = Image.fromarray(label)
            if split == 'train':
                seg.save(_mkdirs(osp.join(voc, 'SegmentationClassAug', f'{img_id}.png')))
            seg.putpalette(palette)  # 'L' -> 'P' keeping the class indices
            seg.save(_mkdirs(osp.join(voc, 'SegmentationClass', f'{img_id}.png')))
    splits['trainval'] = splits['train'] + splits['val']
    splits['aug'] = splits['train']
    for split, ids in splits.items():
        with open(_mkdirs(osp.join(voc, 'ImageSets', 'Segmentation', f'{split}.txt')), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return voc


def _mkdirs(path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    return path


def tiny_pipelines(crop):
    """(train, test) pipelines for tiny images: crop (h, w); test images resized to fit it."""
    scale = (crop[1], crop[0])
    train = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
        dict(type='RandomCrop', crop_size=tuple(crop), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]
    return train, test


TINY_CONFIG = '''\
_base_ = [{base!r}]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
data_root = {data_root!r}
crop_size = {crop!r}
model = dict(pretrained=None, data_preprocessor=dict(size=crop_size))
train_pipeline = {train_pipeline!r}
test_pipeline = {test_pipeline!r}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={ckpt_interval}))
'''


def write_tiny_config(path, base, data_root, crop=(64, 128), iters=2, ckpt_interval=None):
    """Write a config inheriting ``base`` that trains ``iters`` iterations on a tiny dataset.

    For configs whose datasets are plain (not wrapped); see :func:`shrink_config` for any config.

    Args:
        path (str): config file to write.
        base (str): parent config, a path or an ``mmseg::`` name.
        data_root (str): dataset root (Cityscapes root, or VOC's ``VOCdevkit/VOC2012``).
        crop (tuple[int, int]): training crop (h, w).
    """
    train_pipeline, test_pipeline = tiny_pipelines(crop)
    text = TINY_CONFIG.format(base=base, data_root=data_root, crop=tuple(crop), iters=iters,
                              train_pipeline=train_pipeline, test_pipeline=test_pipeline,
                              ckpt_interval=ckpt_interval or iters)
    with open(_mkdirs(path), 'w') as f:
        f.write(text)
    return path


def _leaf_datasets(dataset_cfg):
    """The dataset configs inside wrappers such as ConcatDataset / RepeatDataset."""
    if 'datasets' in dataset_cfg:
        return [leaf for d in dataset_cfg['datasets'] for leaf in _leaf_datasets(d)]
    if 'dataset' in dataset_cfg:
        return _leaf_datasets(dataset_cfg['dataset'])
    return [dataset_cfg]


def shrink_config(cfg, data_root, work_dir, crop=(64, 64), iters=2):
    """Turn a full config (Config object) into a CPU run of ``iters`` iterations on tiny data.

    Every leaf dataset (also inside ConcatDataset) reads ``data_root`` with tiny pipelines;
    pretrained weights are dropped (no downloads); no validation during training. Returns ``cfg``.
    """
    train_pipeline, test_pipeline = tiny_pipelines(crop)
    cfg.work_dir = work_dir
    cfg.model.pretrained = None
    cfg.model.data_preprocessor.size = tuple(crop)
    for loader, pipeline in (('train_dataloader', train_pipeline),
                             ('val_dataloader', test_pipeline), ('test_dataloader', test_pipeline)):
        cfg[loader].update(batch_size=2 if loader == 'train_dataloader' else 1, num_workers=0,
                           persistent_workers=False)
        for leaf in _leaf_datasets(cfg[loader].dataset):
            leaf.update(data_root=data_root, pipeline=pipeline)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    return cfg
