"""Class erasure: remove every pixel of some classes from a test image and ignore their labels.

Builds the "unbiased" test images I* of DropClass's bias-vulnerability analysis (supp. §B). How the
authors filled erased pixels is not published, so the fill is an option: a mean colour, a constant
or inpainting.

Place it right after ``LoadImageFromFile`` so that it works at the original resolution, where
MMSeg's test pipelines later load the labels the IoU is measured against::

    LoadImageFromFile -> ClassErasure -> Resize -> LoadAnnotations -> PackSegInputs

It reads the label map itself (with MMSeg's ``LoadAnnotations`` on a copy of the results, so
``label_map`` and ``reduce_zero_label`` are honoured), fills the erased pixels of ``img`` and
composes ``results['label_map']`` so that the later ``LoadAnnotations`` maps the erased classes to ignore.
"""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS, TRANSFORMS

__all__ = ['ClassErasure', 'resolve_classes', 'IMAGENET_MEAN_BGR']

# mmseg's SegDataPreProcessor mean (RGB, 0-255) in the BGR order LoadImageFromFile produces.
IMAGENET_MEAN_BGR = (103.53, 116.28, 123.675)


def resolve_classes(classes, class_names):
    """Class indices (sorted, unique) for ``classes`` given as names and/or indices.

    Args:
        classes (int | str | Sequence[int | str]): classes to look up. A string is a class name
            first; a string of digits that is no class name is an index (so on Texture-MNIST,
            whose classes are 'background', '0', ..., '9', the string '3' is digit 3 = index 4).
        class_names (Sequence[str]): the dataset's class names, index order.

    Returns:
        list[int]
    """
    if isinstance(classes, (int, np.integer, str)):
        classes = [classes]
    names = list(class_names)
    indices = set()
    for c in classes:
        if isinstance(c, str) and c.isdigit() and c not in names:
            c = int(c)
        if isinstance(c, str):
            if c not in names:
                raise ValueError(f'unknown class {c!r}; the dataset\'s classes are {names}')
            indices.add(names.index(c))
        elif isinstance(c, (int, np.integer)) and 0 <= int(c) < len(names):
            indices.add(int(c))
        else:
            raise ValueError(f'class {c!r} is not a class name or an index in [0, {len(names)})')
    if not indices:
        raise ValueError('no class given; pass at least one class name or index')
    return sorted(indices)


def _dataset_class_names(class_names):
    """``class_names`` as a tuple: a sequence, or a registered dataset type (its METAINFO)."""
    if isinstance(class_names, str):
        dataset = DATASETS.get(class_names)
        if dataset is None:
            raise KeyError(f'ClassErasure: class_names={class_names!r} is neither a list of names '
                           'nor a registered dataset type such as CityscapesDataset')
        return tuple(dataset.METAINFO['classes'])
    return tuple(class_names)


def compose_label_map(label_map, erased, ignore_index=255):
    """A label map (raw id -> class id) that also sends the ``erased`` class ids to ignore.

    Args:
        label_map (dict | None): the dataset's map (applied after ``reduce_zero_label``).
        erased (Iterable[int]): class ids (after ``label_map``) to ignore.
    """
    erased = set(erased)
    label_map = dict(label_map or {})
    composed = {old: (ignore_index if new in erased else new) for old, new in label_map.items()}
    for k in erased:  # raw ids the dataset map leaves unchanged
        if k not in label_map:
            composed[k] = ignore_index
    return composed


@TRANSFORMS.register_module()
class ClassErasure(BaseTransform):
    """Erase all pixels of ``classes`` from ``img`` and mark them ignored in the label.

    Required keys: ``img`` (H, W, 3), ``seg_map_path``, ``reduce_zero_label``; optional
    ``label_map``. Modified keys: ``img``, ``label_map``. Added key: ``erased_mask`` (H, W) bool.

    Args:
        classes (int | str | Sequence[int | str]): class indices (after the dataset's
            ``label_map``) or names to erase.
        fill (str): how erased pixels are filled (the paper does not say; an option):
            'mean' — a mean colour ``value``, default the ImageNet mean of mmseg's data
            preprocessor in BGR 0-255 (pass your dataset's mean to use it);
            'constant' — ``value`` (default 0, black); 'inpaint' — ``cv2.inpaint`` (Telea).
        value (float | Sequence[float], optional): BGR fill colour for 'mean' / 'constant'.
        inpaint_radius (int): neighbourhood radius of 'inpaint', in pixels.
        class_names (Sequence[str] | str, optional): the dataset's classes, or a registered
            dataset type (e.g. 'CityscapesDataset'); needed only when ``classes`` holds names.
        ignore_index (int): label value for ignored pixels.
        imdecode_backend (str): backend for reading the label file, as ``LoadAnnotations``.
        backend_args (dict, optional): file backend arguments, as ``LoadAnnotations``.
    """

    FILLS = ('mean', 'constant', 'inpaint')

    def __init__(self, classes, fill='mean', value=None, inpaint_radius=3, class_names=None,
                 ignore_index=255, imdecode_backend='pillow', backend_args=None):
        if fill not in self.FILLS:
            raise ValueError(f'ClassErasure: fill must be one of {self.FILLS}, got {fill!r}')
        if class_names is not None:
            self.classes = resolve_classes(classes, _dataset_class_names(class_names))
        else:
            given = [classes] if isinstance(classes, (str, int, np.integer)) else list(classes)
            if not all(isinstance(c, (int, np.integer)) or str(c).isdigit() for c in given):
                raise ValueError(f'ClassErasure: class names in {given} need class_names=<the '
                                 "dataset's classes or type, e.g. 'CityscapesDataset'>; or pass "
                                 'indices')
            self.classes = sorted({int(c) for c in given})
            if not self.classes or self.classes[0] < 0:
                raise ValueError(f'ClassErasure: classes must be class indices >= 0 (at least '
                                 f'one), got {classes!r}')
        if value is None:
            value = IMAGENET_MEAN_BGR if fill == 'mean' else 0.0
        self.value = np.broadcast_to(np.asarray(value, np.float64), (3,)).copy()
        self.fill = fill
        self.inpaint_radius = inpaint_radius
        self.ignore_index = ignore_index
        self._loader = LoadAnnotations(imdecode_backend=imdecode_backend, backend_args=backend_args)

    def _label(self, results):
        """The label map (H, W) uint8 at the file's resolution, as LoadAnnotations gives it."""
        probe = dict(seg_map_path=results['seg_map_path'], seg_fields=[],
                     reduce_zero_label=results.get('reduce_zero_label', False),
                     label_map=results.get('label_map'))
        return self._loader(probe)['gt_seg_map']

    def transform(self, results):
        if 'seg_map_path' not in results:
            raise KeyError('ClassErasure needs seg_map_path: use it in a pipeline of a dataset '
                           'with annotations, right after LoadImageFromFile')
        img = results['img']
        label = self._label(results)
        if label.shape != img.shape[:2]:
            raise ValueError(f'ClassErasure must run before any resize: image {img.shape[:2]} vs '
                             f'label {label.shape}; put it right after LoadImageFromFile')
        mask = np.isin(label, self.classes)
        if mask.any():
            img = img.copy()
            if self.fill == 'inpaint':
                img8 = np.clip(img, 0, 255).astype(np.uint8)
                filled = cv2.inpaint(img8, mask.astype(np.uint8), self.inpaint_radius,
                                     cv2.INPAINT_TELEA)
                img[mask] = filled[mask].astype(img.dtype)
            else:
                img[mask] = self.value.astype(img.dtype) if img.ndim == 3 else self.value.mean()
            results['img'] = img
        results['erased_mask'] = mask
        results['label_map'] = compose_label_map(results.get('label_map'), self.classes,
                                                 self.ignore_index)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(classes={self.classes}, fill={self.fill!r}, '
                f'value={tuple(self.value.tolist())})')
