"""The ImageNet-C corruption transform."""
import zlib

import numpy as np
import pytest
from imagecorruptions import corrupt

from mmseg_bias.datasets.transforms import (BENCHMARK_CORRUPTIONS, EXTRA_CORRUPTIONS,
                                            ImageCorruption, resolve_corruptions)
from mmseg_bias.datasets.transforms.corruption import category_of


def _image(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize('name', ['gaussian_noise', 'impulse_noise', 'glass_blur', 'fog',
                                  'contrast', 'jpeg_compression', 'motion_blur', 'saturate'])
def test_output_equals_the_library_on_rgb_converted_back(name):
    img = _image()
    transform = ImageCorruption(name, 3, seed=5)
    out = transform(dict(img=img.copy(), img_path='a.png'))['img']
    seed = zlib.crc32(f'5|a.png|{name}|3'.encode())  # the transform's documented seeding
    np.random.seed(seed)
    extra = {'seed': seed} if name in ('impulse_noise', 'glass_blur') else {}
    direct = corrupt(img[..., ::-1].copy(), severity=3, corruption_name=name, **extra)[..., ::-1]
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, direct)
    assert repr(transform) == f"ImageCorruption(corruption='{name}', severity=3, seed=5)"


def test_colour_order_matters():
    img = _image()
    img[..., 0] = 0  # BGR: no blue
    out = ImageCorruption('saturate', 5)(dict(img=img.copy()))['img']
    rgb_wrong = corrupt(img.copy(), severity=5, corruption_name='saturate')  # BGR fed as RGB
    assert not np.array_equal(out, rgb_wrong)


@pytest.mark.parametrize('name', ['shot_noise', 'impulse_noise', 'glass_blur'])
def test_deterministic_per_image_and_seed_and_restores_global_rng(name):
    img = _image()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = ImageCorruption(name, 2, seed=1)(dict(img=img.copy(), img_path='x.png'))['img']
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    b = ImageCorruption(name, 2, seed=1)(dict(img=img.copy(), img_path='x.png'))['img']
    c = ImageCorruption(name, 2, seed=2)(dict(img=img.copy(), img_path='x.png'))['img']
    d = ImageCorruption(name, 2, seed=1)(dict(img=img.copy(), img_path='y.png'))['img']
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_clear_errors():
    with pytest.raises(ValueError, match='unknown corruption'):
        ImageCorruption('rain', 1)
    with pytest.raises(ValueError, match='severity must be'):
        ImageCorruption('fog', 6)
    with pytest.raises(ValueError, match='severity must be'):
        ImageCorruption('fog', 0)
    with pytest.raises(ValueError, match='at least 32x32'):
        ImageCorruption('fog', 1)(dict(img=_image(20, 40)))


def test_names_and_categories():
    assert len(BENCHMARK_CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4
    assert resolve_corruptions('benchmark') == list(BENCHMARK_CORRUPTIONS)
    assert len(resolve_corruptions('all')) == 19
    assert resolve_corruptions('noise') == ['gaussian_noise', 'shot_noise', 'impulse_noise']
    assert resolve_corruptions('fog,blur,fog')[:2] == ['fog', 'defocus_blur']
    assert category_of('frost') == 'weather' and category_of('spatter') == 'extra'


def test_every_corruption_is_deterministic():
    img = _image(48, 64)
    for name in BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS:
        first = ImageCorruption(name, 3).corrupt(img.copy(), 'p.png')
        again = ImageCorruption(name, 3).corrupt(img.copy(), 'p.png')
        np.testing.assert_array_equal(first, again, err_msg=name)
        assert not np.array_equal(first, img), f'{name} left the image unchanged'
