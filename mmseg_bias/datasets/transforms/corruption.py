"""ImageNet-C corruptions (Hendrycks & Dietterich) as an MMSeg transform, via ``imagecorruptions``."""
import zlib

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['ImageCorruption', 'CORRUPTION_CATEGORIES', 'BENCHMARK_CORRUPTIONS',
           'EXTRA_CORRUPTIONS', 'resolve_corruptions']

# The 15 benchmark corruptions by category, and the 4 extra (validation) ones, as in ImageNet-C.
CORRUPTION_CATEGORIES = {
    'noise': ('gaussian_noise', 'shot_noise', 'impulse_noise'),
    'blur': ('defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur'),
    'weather': ('snow', 'frost', 'fog', 'brightness'),
    'digital': ('contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'),
}
BENCHMARK_CORRUPTIONS = tuple(c for names in CORRUPTION_CATEGORIES.values() for c in names)
EXTRA_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter', 'saturate')
MIN_SIZE = 32  # imagecorruptions refuses smaller images


def resolve_corruptions(spec):
    """Corruption names from 'benchmark' | 'all' | a category | comma-separated names.

    Returns:
        list[str]: in benchmark order.
    """
    names = []
    for item in (spec.split(',') if isinstance(spec, str) else spec):
        item = item.strip()
        if item == 'benchmark':
            names += BENCHMARK_CORRUPTIONS
        elif item == 'all':
            names += BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS
        elif item in CORRUPTION_CATEGORIES:
            names += CORRUPTION_CATEGORIES[item]
        elif item in BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS:
            names.append(item)
        else:
            raise ValueError(f'unknown corruption {item!r}; use benchmark, all, '
                             f'{", ".join(CORRUPTION_CATEGORIES)} or names from '
                             f'{", ".join(BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS)}')
    return list(dict.fromkeys(names))


def category_of(corruption):
    """'noise' | 'blur' | 'weather' | 'digital' | 'extra'."""
    for category, names in CORRUPTION_CATEGORIES.items():
        if corruption in names:
            return category
    return 'extra'


@TRANSFORMS.register_module()
class ImageCorruption(BaseTransform):
    """Corrupt ``results['img']`` (BGR uint8, as MMSeg loads it) with one ImageNet-C corruption.

    The image is converted to RGB for ``imagecorruptions.corrupt`` and back. The random state is
    seeded from (``seed``, image path, corruption, severity), so an image gets the same corruption
    in every run and every worker, and numpy's global random state is restored afterwards.
    Insert it after ``LoadImageFromFile`` to corrupt at the original resolution (the benchmark's
    default), or after ``Resize``.

    Args:
        corruption (str): one of the 19 names (see ``BENCHMARK_CORRUPTIONS``, ``EXTRA_CORRUPTIONS``).
        severity (int): 1-5.
        seed (int): base seed.
    """

    def __init__(self, corruption, severity, seed=0):
        resolve_corruptions([corruption])  # validates the name
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f'severity must be an integer from 1 to 5, got {severity!r} '
                             '(severity 0 means clean: leave the transform out)')
        self.corruption = corruption
        self.severity = severity
        self.seed = seed

    def transform(self, results):
        from imagecorruptions import corrupt
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'ImageCorruption needs a BGR uint8 image (H, W, 3), got {img.dtype} '
                             f'{img.shape}; load images with LoadImageFromFile')
        if min(img.shape[:2]) < MIN_SIZE:
            raise ValueError(f'ImageCorruption needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels '
                             f'(imagecorruptions refuses smaller), got {img.shape[1]}x{img.shape[0]}')
        key = f'{self.seed}|{results.get("img_path", "")}|{self.corruption}|{self.severity}'
        state = np.random.get_state()
        np.random.seed(zlib.crc32(key.encode()))
        try:
            out = corrupt(np.ascontiguousarray(img[..., ::-1]), severity=self.severity,
                          corruption_name=self.corruption)
        finally:
            np.random.set_state(state)
        results['img'] = np.ascontiguousarray(np.asarray(out, dtype=np.uint8)[..., ::-1])
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, seed={self.seed})')
