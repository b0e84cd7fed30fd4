"""Texture-MNIST generator (grid saliency, supp. §S1): a dataset with a planted context bias.

Each sample is a grey (tile_size x tile_size) image: a digit mask (an MNIST or rendered digit,
bilinearly resized to the tile and thresholded at 0.5) filled with a crop of a foreground
texture, the rest filled with one crop per background tile — the image split into 2 halves or 4
quadrants. All textures of an image differ. Labels: 0 = background, 1 + d = digit d.

Bias (``bias = {digit: texture}``): every image of a biased digit gets that digit's bias texture
in one random background tile. ``strength='strong'`` removes every bias texture from all other
slots of all images (it appears only where it is the bias); ``'weak'`` leaves it in the pool,
so it can appear anywhere else too (never twice in one image). Without a bias every texture can
appear anywhere.

Splits, all deterministic for their seed: ``train`` (``seed``, the bias applied); ``test`` (the
fixed unbiased test set, ``test_seed``); ``test_biased`` (same digits and test seed with the bias
applied; written only when there is a bias). With MNIST (``mnist_root``) the training images
come from MNIST train and the test images from MNIST test, as in the paper; the seed sets the
digit order and every texture choice and crop. Rendered digits (the default) come in equal
numbers per digit, in a seeded order, from disjoint random streams for training and test.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

from mmseg_bias.datasets.texture_mnist import CLASSES, digit_class
from mmseg_bias.utils import atomic_open, dump_json, load_json

from .digits import load_mnist, render_digit
from .textures import BIAS_TEXTURES, load_textures, procedural_textures, random_crop

__all__ = ['generate_texture_mnist', 'parse_bias', 'background_tiles', 'compose_sample',
           'digit_mask', 'STRENGTHS', 'SPLIT_CODES']

STRENGTHS = ('strong', 'weak')
SPLIT_CODES = {'train': 0, 'test': 1, 'test_biased': 1}  # test_biased shares test's digits
ORIENTATIONS = ('vertical', 'horizontal')


def parse_bias(bias, texture_names):
    """``{digit: texture index}`` from ``{digit: name or index}`` or a string
    ``'3:checker_8,7:1'``; ``None`` / '' / {} mean no bias."""
    if not bias:
        return {}
    if isinstance(bias, str):
        pairs = {}
        for item in bias.split(','):
            if ':' not in item:
                raise ValueError(f'bias {bias!r}: write DIGIT:TEXTURE pairs separated by commas, '
                                 "e.g. '3:checker_8' or '3:0,7:1'")
            digit, texture = item.split(':', 1)
            pairs[digit.strip()] = texture.strip()
        bias = pairs
    out = {}
    for digit, texture in bias.items():
        if not str(digit).isdigit() or not 0 <= int(digit) <= 9:
            raise ValueError(f'bias digit {digit!r} is not a digit 0-9')
        if isinstance(texture, str) and not texture.isdigit():
            if texture not in texture_names:
                raise ValueError(f'bias texture {texture!r} is not in the pool; choose a name '
                                 f'among {list(texture_names)} or an index')
            index = texture_names.index(texture)
        else:
            index = int(texture)
            if not 0 <= index < len(texture_names):
                raise ValueError(f'bias texture index {index} is outside the pool of '
                                 f'{len(texture_names)} textures')
        out[int(digit)] = index
    if len(set(out.values())) != len(out):
        raise ValueError(f'each biased digit needs its own bias texture, got {bias}')
    return dict(sorted(out.items()))


def background_tiles(tile_size, split=2, orientation='vertical'):
    """Boxes ``(y0, x0, y1, x1)`` of the background tiles: 2 halves (side by side for
    ``'vertical'``, stacked for ``'horizontal'``) or 4 quadrants (row-major)."""
    h = w = int(tile_size)
    if split == 2:
        if orientation not in ORIENTATIONS:
            raise ValueError(f'orientation must be one of {ORIENTATIONS}, got {orientation!r}')
        if orientation == 'vertical':
            return [(0, 0, h, w // 2), (0, w // 2, h, w)]
        return [(0, 0, h // 2, w), (h // 2, 0, h, w)]
    if split == 4:
        return [(0, 0, h // 2, w // 2), (0, w // 2, h // 2, w), (h // 2, 0, h, w // 2),
                (h // 2, w // 2, h, w)]
    raise ValueError(f'background split must be 2 (halves) or 4 (quadrants), got {split}')


def digit_mask(digit_image, tile_size):
    """(tile_size, tile_size) bool mask: the 28x28 digit bilinearly resized, threshold 0.5."""
    resized = cv2.resize(digit_image.astype(np.float32) / 255.0, (tile_size, tile_size),
                         interpolation=cv2.INTER_LINEAR)
    return resized > 0.5


def _choose_textures(rng, digit, num_slots, num_textures, bias, strength):
    """(foreground texture, background textures, biased tile or None) of one image."""
    excluded = set(bias.values()) if strength == 'strong' else set()
    num_tiles = num_slots - 1
    biased_tile = None
    if digit in bias:
        biased_tile = int(rng.integers(num_tiles))
        excluded.add(bias[digit])
    pool = np.array([t for t in range(num_textures) if t not in excluded])
    picked = [int(t) for t in rng.choice(pool, num_slots - (biased_tile is not None),
                                         replace=False)]
    foreground, tiles = picked[0], picked[1:]
    if biased_tile is not None:
        tiles.insert(biased_tile, bias[digit])
    return foreground, tiles, biased_tile


def compose_sample(digit_image, digit, rng, textures, tiles, bias=None, strength='strong'):
    """One Texture-MNIST sample.

    Args:
        digit_image (np.ndarray): (28, 28) uint8 digit (any size works).
        digit (int): its label 0-9.
        rng (np.random.Generator): draws the textures, the biased tile and the crops.
        textures (Sequence[np.ndarray]): the texture pool, float in [0, 1].
        tiles (Sequence[tuple]): background tile boxes (:func:`background_tiles`).
        bias (dict, optional): ``{digit: texture index}``.
        strength (str): 'strong' or 'weak'.

    Returns:
        dict: ``image`` (S, S) uint8, ``label`` (S, S) uint8, ``bias_mask`` (S, S) uint8 (1 where
        the bias texture is visible), ``foreground`` and ``tiles`` (texture indices),
        ``biased_tile`` (index or None).
    """
    bias = bias or {}
    size = tiles[-1][2]
    foreground, tile_textures, biased_tile = _choose_textures(
        rng, digit, len(tiles) + 1, len(textures), bias, strength)
    mask = digit_mask(digit_image, size)
    image = np.empty((size, size), np.float32)
    for (y0, x0, y1, x1), t in zip(tiles, tile_textures):
        image[y0:y1, x0:x1] = random_crop(textures[t], (y1 - y0, x1 - x0), rng)
    image[mask] = random_crop(textures[foreground], (size, size), rng)[mask]
    bias_mask = np.zeros((size, size), np.uint8)
    if biased_tile is not None:
        y0, x0, y1, x1 = tiles[biased_tile]
        bias_mask[y0:y1, x0:x1] = 1
        bias_mask[mask] = 0
    label = np.where(mask, digit_class(digit), 0).astype(np.uint8)
    return dict(image=np.round(image * 255).astype(np.uint8), label=label, bias_mask=bias_mask,
                foreground=foreground, tiles=tile_textures, biased_tile=biased_tile)


class _DigitSource:
    """Digits of one split: MNIST in a seeded order, or rendered on demand."""

    def __init__(self, mnist_root, split, num, seed):
        self.mnist = mnist_root is not None
        code = SPLIT_CODES[split]
        if self.mnist:
            images, labels = load_mnist(mnist_root, 'train' if code == 0 else 'test')
            if num > len(images):
                raise ValueError(f'MNIST {"train" if code == 0 else "test"} has {len(images)} '
                                 f'images; ask for at most that many ({num} requested)')
            self.order = np.random.default_rng([seed, code]).permutation(len(images))[:num]
            self.images, self.labels = images, labels
        else:
            # every digit equally often (MNIST is nearly balanced), in a seeded order
            self.labels = np.random.default_rng([seed, code]).permutation(np.arange(num) % 10)
        self.seed, self.code = seed, code

    def __call__(self, i):
        """(28x28 uint8 image, digit, source description) of sample ``i``."""
        if self.mnist:
            j = int(self.order[i])
            split = 'train' if self.code == 0 else 'test'
            return self.images[j], int(self.labels[j]), f'mnist:{split}:{j}'
        digit = int(self.labels[i])
        rng = np.random.default_rng([self.seed, self.code, i, 0])
        return render_digit(digit, rng), digit, 'rendered'


def _save_png(array, path):
    with atomic_open(path, 'wb') as f:
        Image.fromarray(array).save(f, format='PNG', compress_level=6)


def _write_split(out_dir, split, num, seed, bias, strength, digits, names, textures, tiles,
                 progress):
    source = _DigitSource(digits, split, num, seed)
    code = SPLIT_CODES[split]
    ids = [f'{i:06d}' for i in range(num)]
    bar = ProgressBar(num) if progress and num else None
    counts = np.zeros(10, np.int64)
    for i, sample_id in enumerate(ids):
        digit_image, digit, origin = source(i)
        rng = np.random.default_rng([seed, code, i, 1])
        sample = compose_sample(digit_image, digit, rng, textures, tiles, bias, strength)
        counts[digit] += 1
        for folder, key in (('img_dir', 'image'), ('ann_dir', 'label'), ('bias_dir', 'bias_mask')):
            _save_png(sample[key], osp.join(out_dir, folder, split, f'{sample_id}.png'))
        biased = sample['biased_tile']
        meta = dict(id=sample_id, split=split, digit=digit, label=digit_class(digit),
                    source=origin, foreground_texture=names[sample['foreground']],
                    tiles=[dict(box=list(box), texture=names[t])
                           for box, t in zip(tiles, sample['tiles'])],
                    biased_tile=biased,
                    bias_texture=None if biased is None else names[sample['tiles'][biased]],
                    bias_mask=f'bias_dir/{split}/{sample_id}.png')
        with atomic_open(osp.join(out_dir, 'meta', split, f'{sample_id}.json')) as f:
            json.dump(meta, f, sort_keys=True)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')
    with atomic_open(osp.join(out_dir, 'splits', f'{split}.txt')) as f:
        f.write('\n'.join(ids) + ('\n' if ids else ''))
    return counts.tolist()


def generate_texture_mnist(out_dir, bias=None, strength='strong', num_train=50000, num_test=1000,
                           seed=0, test_seed=0, tile_size=64, split=2, orientation='vertical',
                           mnist_root=None, texture_dir=None, texture_size=512, normalise=True,
                           contrast=0.2, progress=True):
    """Write a Texture-MNIST dataset into ``out_dir`` (layout:
    :mod:`~mmseg_bias.datasets.texture_mnist`).

    Args:
        out_dir (str): dataset root.
        bias (dict | str, optional): ``{digit: texture name or index}`` or ``'3:checker_8'``;
            None = unbiased. The default bias textures are the pool's first five
            (:data:`~mmseg_bias.toy.textures.BIAS_TEXTURES`).
        strength (str): 'strong' (bias textures excluded from every other slot; default) or
            'weak' (not excluded).
        num_train (int): training images (paper: 50000).
        num_test (int): test images (paper: 1000), the same for every training seed.
        seed (int): training-set seed (digit order, textures, crops, biased tiles).
        test_seed (int): seed of the fixed test sets.
        tile_size (int): image side in pixels (paper: 64).
        split (int): background tiles: 2 (halves, paper's default) or 4 (quadrants).
        orientation (str): halves side by side ('vertical', default) or stacked
            ('horizontal'); the paper does not say which.
        mnist_root (str, optional): folder with MNIST's IDX files; default rendered digits.
        texture_dir (str, optional): folder of texture images; default the procedural pool.
        texture_size (int): side of the procedural textures (>= 400 in the paper; 512).
        normalise (bool): equal mean and contrast for all textures (default).
        contrast (float): texture standard deviation after normalisation (grey in [0, 1]).
        progress (bool): progress bars.

    Returns:
        dict: the dataset description also written to ``out_dir/meta.json`` (written last; a
        folder whose meta.json holds the same parameters is reused as it is).
    """
    if strength not in STRENGTHS:
        raise ValueError(f'bias strength must be one of {STRENGTHS}, got {strength!r}')
    if num_train < 1 or num_test < 1:
        raise ValueError(f'need at least one training and one test image, got {num_train} and '
                         f'{num_test}')
    if tile_size < 16 or tile_size % 2:
        raise ValueError(f'tile size must be an even number of pixels >= 16, got {tile_size}')
    if texture_dir is not None:
        names, textures = load_textures(texture_dir, normalise, contrast, min_size=tile_size)
        texture_source = osp.abspath(texture_dir)
    else:
        names, textures = procedural_textures(texture_size, normalise, contrast)
        texture_source = 'procedural'
    bias = parse_bias(bias, names)
    tiles = background_tiles(tile_size, split, orientation)
    needed = len(tiles) + 1 + (len(bias) if strength == 'strong' else 0)
    if len(names) < needed:
        raise ValueError(f'{len(names)} textures are too few: each image uses {len(tiles) + 1} '
                         f'distinct textures and a strong bias reserves {len(bias)}; add textures')
    if mnist_root is not None:
        load_mnist(mnist_root, 'train')  # fail early on a bad --mnist-root
    params = dict(bias={str(d): names[t] for d, t in bias.items()}, strength=strength,
                  num_train=num_train, num_test=num_test, seed=seed, test_seed=test_seed,
                  tile_size=tile_size, split=split, orientation=orientation,
                  digits='mnist' if mnist_root else 'rendered',
                  mnist_root=osp.abspath(mnist_root) if mnist_root else None,
                  textures=texture_source, texture_size=texture_size, normalise=normalise,
                  contrast=contrast)
    meta_path = osp.join(out_dir, 'meta.json')
    if osp.isfile(meta_path):
        existing = load_json(meta_path)
        if existing.get('params') == json.loads(json.dumps(params)):
            return existing
        raise FileExistsError(f'{out_dir} already holds a Texture-MNIST dataset made with other '
                              'parameters; choose another output folder or delete it')
    os.makedirs(out_dir, exist_ok=True)
    splits = [('train', num_train, seed, bias), ('test', num_test, test_seed, {})]
    if bias:
        splits.append(('test_biased', num_test, test_seed, bias))
    counts = {}
    for name, num, split_seed, split_bias in splits:
        counts[name] = _write_split(out_dir, name, num, split_seed, split_bias, strength,
                                    mnist_root, names, textures, tiles, progress)
    meta = dict(params=params, classes=list(CLASSES), textures=list(names),
                bias_textures=[names[t] for t in BIAS_TEXTURES if t < len(names)],
                tiles=[list(t) for t in tiles], splits=[s[0] for s in splits],
                digit_counts=counts)
    dump_json(meta, meta_path)
    return meta
