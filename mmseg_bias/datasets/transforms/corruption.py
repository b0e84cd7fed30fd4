"""ImageNet-C corruptions (Hendrycks & Dietterich) as an MMSeg transform, via ``imagecorruptions``."""
import inspect
import os.path as osp
import zlib

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['ImageCorruption', 'CORRUPTION_CATEGORIES', 'BENCHMARK_CORRUPTIONS',
           'EXTRA_CORRUPTIONS', 'SLOW_CORRUPTIONS', 'resolve_corruptions', 'cache_file']

# The 15 benchmark corruptions by category, and the 4 extra (validation) ones, as in ImageNet-C.
CORRUPTION_CATEGORIES = {
    'noise': ('gaussian_noise', 'shot_noise', 'impulse_noise'),
    'blur': ('defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur'),
    'weather': ('snow', 'frost', 'fog', 'brightness'),
    'digital': ('contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'),
}
BENCHMARK_CORRUPTIONS = tuple(c for names in CORRUPTION_CATEGORIES.values() for c in names)
EXTRA_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter', 'saturate')
# Seconds per 1024x2048 image here: glass 3.3, zoom 3.1, elastic 1.2; most others < 0.2.
SLOW_CORRUPTIONS = ('glass_blur', 'zoom_blur', 'motion_blur', 'snow', 'elastic_transform')
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


def cache_file(cache_root, corruption, severity, seed, img_path):
    """Where the corruption cache keeps one corrupted image (a lossless PNG)."""
    name = osp.splitext(osp.basename(img_path))[0]
    tag = f'{zlib.crc32(osp.abspath(img_path).encode()):08x}'
    return osp.join(cache_root, corruption, str(severity), str(seed), f'{name}_{tag}.png')


def _seed_kwargs(corruption, seed):
    """``seed=`` for the corruptions that take one (glass_blur, impulse_noise): without it they
    draw fresh OS entropy, which numpy's global seed does not reach."""
    from imagecorruptions import corruptions
    takes_seed = 'seed' in inspect.signature(getattr(corruptions, corruption)).parameters
    return {'seed': seed} if takes_seed else {}


def category_of(corruption):
    """'noise' | 'blur' | 'weather' | 'digital' | 'extra'."""
    for category, names in CORRUPTION_CATEGORIES.items():
        if corruption in names:
            return category
    return 'extra'


@TRANSFORMS.register_module()
class ImageCorruption(BaseTransform):
    """Corrupt ``results['img']`` (BGR uint8, as MMSeg loads it) with one ImageNet-C corruption.

    The image is converted to RGB for ``imagecorruptions.corrupt`` and back. A seed derived from
    (``seed``, image path, corruption, severity) seeds numpy's global random state (restored
    afterwards) and is passed to the corruptions that take their own ``seed``, so an image gets the
    same corruption in every run and every worker process.
    Insert it after ``LoadImageFromFile`` to corrupt at the original resolution (the benchmark's
    default), or after ``Resize``.

    Args:
        corruption (str): one of the 19 names (see ``BENCHMARK_CORRUPTIONS``, ``EXTRA_CORRUPTIONS``).
        severity (int): 1-5.
        seed (int): base seed.
        cache_root (str, optional): a corruption cache (``tools/robustness/cache_corruptions.py``);
            images found there are read instead of computed (identical pixels).
    """

    def __init__(self, corruption, severity, seed=0, cache_root=None):
        resolve_corruptions([corruption])  # validates the name
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f'severity must be an integer from 1 to 5, got {severity!r} '
                             '(severity 0 means clean: leave the transform out)')
        self.corruption = corruption
        self.severity = severity
        self.seed = seed
        self.cache_root = cache_root

    def transform(self, results):
        if self.cache_root is not None and 'img_path' in results:
            cached = cache_file(self.cache_root, self.corruption, self.severity, self.seed,
                                results['img_path'])
            if osp.isfile(cached):
                results['img'] = mmcv.imread(cached)
                return results
        results['img'] = self.corrupt(results['img'], results.get('img_path', ''))
        return results

    def corrupt(self, img, img_path=''):
        """Corrupt one BGR uint8 image (H, W, 3); ``img_path`` enters the seed."""
        from imagecorruptions import corrupt
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'ImageCorruption needs a BGR uint8 image (H, W, 3), got {img.dtype} '
                             f'{img.shape}; load images with LoadImageFromFile')
        if min(img.shape[:2]) < MIN_SIZE:
            raise ValueError(f'ImageCorruption needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels '
                             f'(imagecorruptions refuses smaller), got {img.shape[1]}x{img.shape[0]}')
        seed = zlib.crc32(f'{self.seed}|{img_path}|{self.corruption}|{self.severity}'.encode())
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            out = corrupt(np.ascontiguousarray(img[..., ::-1]), severity=self.severity,
                          corruption_name=self.corruption, **_seed_kwargs(self.corruption, seed))
        finally:
            np.random.set_state(state)
        return np.ascontiguousarray(np.asarray(out, dtype=np.uint8)[..., ::-1])

    def __repr__(self):
        return (f'{type(self).__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, seed={self.seed})')
