"""Texture-MNIST: IDX reader, rendered digits, texture pool, the generator's bias guarantees and
determinism, the dataset class, the converter CLI and the toy configs."""
import gzip
import json
import os
import os.path as osp
import struct

import cv2
import numpy as np
import pytest
import torch

from helpers import REPO, load_tool
from mmseg_bias.datasets.texture_mnist import digit_class
from mmseg_bias.toy import (digit_mask, generate_texture_mnist, load_mnist, procedural_textures,
                            read_idx, render_digits)

GREYS = (20, 50, 80, 110, 140, 170, 200, 230)  # one flat texture per grey level: t0 .. t7


def write_idx(path, array):
    """An IDX file (uint8 data), gzipped when ``path`` ends with .gz."""
    array = np.ascontiguousarray(array, np.uint8)
    data = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + \
        struct.pack(f'>{array.ndim}I', *array.shape) + array.tobytes()
    with (gzip.open if path.endswith('.gz') else open)(path, 'wb') as f:
        f.write(data)


@pytest.fixture(scope='module')
def mnist_root(tmp_path_factory):
    """A tiny MNIST in IDX layout: 40 train (plain files) and 20 test images (gzipped), digits
    cycling 0-9, drawn by the renderer."""
    root = str(tmp_path_factory.mktemp('mnist'))
    for prefix, num, gz in (('train', 40, ''), ('t10k', 20, '.gz')):
        labels = np.arange(num) % 10
        write_idx(osp.join(root, f'{prefix}-images-idx3-ubyte{gz}'),
                  render_digits(labels, seed=len(prefix)))
        write_idx(osp.join(root, f'{prefix}-labels-idx1-ubyte{gz}'), labels)
    return root


@pytest.fixture(scope='module')
def flat_textures(tmp_path_factory):
    """Eight flat textures of distinct grey levels, so every pixel tells its texture."""
    root = str(tmp_path_factory.mktemp('textures'))
    for i, g in enumerate(GREYS):
        cv2.imwrite(osp.join(root, f't{i}.png'), np.full((80, 80), g, np.uint8))
    return root


def _generate(out, mnist_root, flat_textures, strength, num_train=40):
    return generate_texture_mnist(out, bias='3:t0', strength=strength, num_train=num_train,
                                  num_test=20, seed=1, mnist_root=mnist_root,
                                  texture_dir=flat_textures, normalise=False, progress=False)


@pytest.fixture(scope='module')
def strong(tmp_path_factory, mnist_root, flat_textures):
    out = str(tmp_path_factory.mktemp('strong'))
    return out, _generate(out, mnist_root, flat_textures, 'strong')


def _samples(root, split):
    with open(osp.join(root, 'splits', f'{split}.txt')) as f:
        ids = f.read().split()
    for i in ids:
        read = lambda d: cv2.imread(osp.join(root, d, split, f'{i}.png'), cv2.IMREAD_UNCHANGED)
        with open(osp.join(root, 'meta', split, f'{i}.json')) as f:
            meta = json.load(f)
        yield read('img_dir'), read('ann_dir'), read('bias_dir'), meta


# --------------------------------------------------------------------------------------------
# digits


def test_idx_reader_round_trip_and_errors(tmp_path, mnist_root):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(str(tmp_path / 'a-idx3-ubyte'), images)
    write_idx(str(tmp_path / 'b-idx1-ubyte.gz'), np.arange(5))
    np.testing.assert_array_equal(read_idx(str(tmp_path / 'a-idx3-ubyte')), images)
    np.testing.assert_array_equal(read_idx(str(tmp_path / 'b-idx1-ubyte.gz')), np.arange(5))
    data = (tmp_path / 'a-idx3-ubyte').read_bytes()
    (tmp_path / 'cut').write_bytes(data[:-7])
    with pytest.raises(ValueError, match='truncated'):
        read_idx(str(tmp_path / 'cut'))
    (tmp_path / 'png').write_bytes(b'\x89PNG\r\n\x1a\n' + data[8:])
    with pytest.raises(ValueError, match='not an IDX file'):
        read_idx(str(tmp_path / 'png'))
    train_images, train_labels = load_mnist(mnist_root, 'train')  # plain files
    test_images, test_labels = load_mnist(mnist_root, 'test')     # .gz files
    assert train_images.shape == (40, 28, 28) and test_images.shape == (20, 28, 28)
    np.testing.assert_array_equal(train_labels, np.arange(40) % 10)
    with pytest.raises(FileNotFoundError, match='train-images-idx3-ubyte'):
        load_mnist(str(tmp_path), 'train')


def test_rendered_digits_deterministic_and_varied():
    labels = [3, 3, 3, 3, 7]
    a, b = render_digits(labels, seed=0), render_digits(labels, seed=0)
    assert a.shape == (5, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_digits(labels, seed=1))
    masks = [digit_mask(x, 64) for x in a]
    # four samples of the same digit all differ, and each mask is a plausible digit
    assert len({m.tobytes() for m in masks[:4]}) == 4
    assert all(0.05 < m.mean() < 0.5 for m in masks)


def test_procedural_pool_25_distinct_textures():
    names, textures = procedural_textures()
    assert len(names) == len(set(names)) == 25
    for t in textures:
        assert t.shape[0] >= 400 and t.shape[1] >= 400 and t.dtype == np.float32
        assert abs(float(t.mean()) - 0.5) < 0.05 and 0.1 < float(t.std()) < 0.25
    for i in range(25):
        for j in range(i):
            assert np.abs(textures[i][:128, :128] - textures[j][:128, :128]).mean() > 0.02, \
                (names[i], names[j])


# --------------------------------------------------------------------------------------------
# generator


def test_labels_match_digit_masks(strong, mnist_root):
    root, meta = strong
    assert meta['params']['digits'] == 'mnist' and meta['splits'] == ['train', 'test',
                                                                       'test_biased']
    images = {'train': load_mnist(mnist_root, 'train'), 'test': load_mnist(mnist_root, 'test')}
    for split in meta['splits']:
        seen = 0
        for image, label, _, info in _samples(root, split):
            _, source_split, j = info['source'].split(':')
            digits, labels = images[source_split]
            assert info['digit'] == labels[int(j)]
            expected = np.where(digit_mask(digits[int(j)], 64), digit_class(info['digit']), 0)
            np.testing.assert_array_equal(label, expected)
            fg = GREYS[int(info['foreground_texture'][1:])]
            assert (image[label > 0] == fg).all()
            seen += 1
        assert seen == (40 if split == 'train' else 20)


def test_strong_bias_texture_only_in_biased_tiles(strong):
    root, _ = strong
    bias_grey = GREYS[0]
    biased_images = 0
    for split in ('train', 'test_biased'):
        for image, label, bias_mask, info in _samples(root, split):
            if info['digit'] == 3:
                biased_images += 1
                y0, x0, y1, x1 = info['tiles'][info['biased_tile']]['box']
                tile = np.zeros_like(label, bool)
                tile[y0:y1, x0:x1] = True
                expected = tile & (label == 0)
                assert info['bias_texture'] == 't0'
                np.testing.assert_array_equal(bias_mask > 0, expected)
                assert (image[expected] == bias_grey).all()
                # ... and nowhere else in the image
                np.testing.assert_array_equal(image == bias_grey, expected)
            else:
                assert info['biased_tile'] is None and not bias_mask.any()
                assert not (image == bias_grey).any()
    assert biased_images == 4 + 2
    # the unbiased test set has no bias: t0 appears like any texture, no bias masks
    uses = 0
    for image, _, bias_mask, info in _samples(root, 'test'):
        assert info['biased_tile'] is None and not bias_mask.any()
        uses += bool((image == bias_grey).any())
    assert uses > 0


def test_weak_bias_texture_appears_elsewhere(tmp_path, mnist_root, flat_textures):
    out = str(tmp_path / 'weak')
    _generate(out, mnist_root, flat_textures, 'weak')
    elsewhere = 0
    for image, label, bias_mask, info in _samples(out, 'train'):
        if info['digit'] == 3:
            assert (image[bias_mask > 0] == GREYS[0]).all()
            assert not (image[bias_mask == 0] == GREYS[0]).any()  # never twice in one image
        else:
            elsewhere += bool((image == GREYS[0]).any())
    assert elsewhere > 0


def _tree(root):
    files = {}
    for folder, _, names in os.walk(root):
        for n in names:
            path = osp.join(folder, n)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


def test_same_seed_identical_bytes_fixed_test_set(tmp_path):
    kwargs = dict(bias={5: 'checker_8'}, num_train=12, num_test=6, texture_size=128,
                  progress=False)
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        generate_texture_mnist(str(tmp_path / name), seed=seed, **kwargs)
    a, b, c = (_tree(str(tmp_path / name)) for name in 'abc')
    assert len(a) == 1 + 3 * (12 + 6 + 6) + 3 + 12 + 6 + 6 and a == b
    # another training seed: other training images, the same unbiased test set
    assert a['img_dir/train/000000.png'] != c['img_dir/train/000000.png']
    assert all(a[k] == c[k] for k in a if '/test/' in k)
    # a finished dataset is reused; other parameters in the same folder are refused
    before = os.stat(tmp_path / 'a' / 'meta.json').st_mtime_ns
    generate_texture_mnist(str(tmp_path / 'a'), seed=3, **kwargs)
    assert os.stat(tmp_path / 'a' / 'meta.json').st_mtime_ns == before
    with pytest.raises(FileExistsError, match='other parameters'):
        generate_texture_mnist(str(tmp_path / 'a'), seed=4, **kwargs)


def test_generator_rejects_bad_parameters(tmp_path, flat_textures):
    for kwargs, match in ((dict(bias='3:nope'), 'not in the pool'),
                          (dict(bias='3'), 'DIGIT:TEXTURE'),
                          (dict(bias='13:0'), 'not a digit'),
                          (dict(bias='3:0,4:0'), 'its own bias texture'),
                          (dict(strength='medium'), 'strong'),
                          (dict(split=3), 'halves'),
                          (dict(tile_size=15), 'tile size')):
        with pytest.raises(ValueError, match=match):
            generate_texture_mnist(str(tmp_path / 'x'), num_train=2, num_test=2,
                                   texture_size=64, progress=False, **kwargs)
    with pytest.raises(FileNotFoundError, match='--texture-dir'):
        generate_texture_mnist(str(tmp_path / 'x'), texture_dir=str(tmp_path / 'none'))


def test_quadrant_split_and_tile_metadata(tmp_path, mnist_root, flat_textures):
    meta = generate_texture_mnist(str(tmp_path / 'q'), bias='3:t0', num_train=10, num_test=10,
                                  split=4, mnist_root=mnist_root, texture_dir=flat_textures,
                                  normalise=False, progress=False)
    assert len(meta['tiles']) == 4
    for image, label, bias_mask, info in _samples(str(tmp_path / 'q'), 'train'):
        assert len(info['tiles']) == 4
        textures = [info['foreground_texture']] + [t['texture'] for t in info['tiles']]
        assert len(set(textures)) == 5  # all textures of an image differ
        if info['digit'] == 3:
            y0, x0, y1, x1 = info['tiles'][info['biased_tile']]['box']
            assert (y1 - y0, x1 - x0) == (32, 32)
            assert bias_mask[y0:y1, x0:x1][label[y0:y1, x0:x1] == 0].all()


# --------------------------------------------------------------------------------------------
# dataset class, converter, configs


def test_dataset_class_reads_splits_and_metadata(strong):
    import mmseg_bias  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    root, _ = strong
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs', meta_keys=('img_path', 'digit', 'biased_tile'))]
    dataset = DATASETS.build(dict(type='TextureMNISTDataset', data_root=root, split='test_biased',
                                  with_meta=True, pipeline=pipeline))
    assert len(dataset) == 20 and dataset.metainfo['classes'][4] == '3'
    index = next(i for i in range(20) if dataset.get_data_info(i)['digit'] == 3)
    sample = dataset[index]
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    labels = sample['data_samples'].gt_sem_seg.data.unique().tolist()
    assert labels == [0, digit_class(sample['data_samples'].metainfo['digit'])]
    assert sample['data_samples'].metainfo['biased_tile'] in (0, 1)  # digit 3 is biased
    with pytest.raises(FileNotFoundError, match='generate the dataset first'):
        DATASETS.build(dict(type='TextureMNISTDataset', data_root=root, split='val',
                            pipeline=pipeline))


def _converter():
    return load_tool('tools/dataset_converters/texture_mnist.py')


def test_converter_cli(tmp_path, mnist_root, capsys):
    tool = _converter()
    tool.main(['--out', str(tmp_path / 'd'), '--bias', '3:dots_hex_10', '--strength', 'weak',
               '--num-train', '6', '--num-test', '4', '--texture-size', '128', '--mnist-root',
               mnist_root])
    out = capsys.readouterr().out
    assert "'train': 6" in out and 'dots_hex_10' in out and 'mnist' in out
    assert len(os.listdir(tmp_path / 'd' / 'img_dir' / 'test_biased')) == 4
    with pytest.raises(SystemExit, match='error: no MNIST train images'):
        tool.main(['--out', str(tmp_path / 'e'), '--mnist-root', str(tmp_path)])


@pytest.mark.parametrize('name', ['unet_texture_mnist.py', 'fpn_r18_texture_mnist.py',
                                  'fpn_mnv2_texture_mnist.py'])
def test_toy_configs_segment_64x64_with_rmsprop(name):
    import mmseg_bias  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'toy', name))
    # the CPU schedule: the paper's optimiser at twice its lr (configs/toy/unet_texture_mnist.py)
    assert cfg.optim_wrapper.optimizer.type == 'RMSprop' and cfg.optim_wrapper.optimizer.lr == 2e-3
    scheduler, = cfg.param_scheduler
    assert scheduler.gamma == 0.1 and scheduler.milestones == [int(0.8 * cfg.train_cfg.max_iters)]
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model.encode_decode(torch.rand(2, 3, 64, 64),
                                     [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2)
    assert tuple(logits.shape) == (2, 11, 64, 64)


def test_paper_schedule_config():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'toy', 'unet_texture_mnist_50e.py'))
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == 50
    assert cfg.train_dataloader.batch_size == 100 and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_dataloader.sampler.type == 'DefaultSampler'
    scheduler, = cfg.param_scheduler
    assert scheduler.by_epoch and scheduler.milestones == [40] and scheduler.gamma == 0.1
