"""VOC + SBD train_noval conversion, and the SCrIBE configs training through the Runner."""
import glob
import os
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image
from scipy.io import savemat

import datafactory
import mmseg_bias  # noqa: F401
from helpers import REPO, run_cli
from mmseg_bias.datasets.voc_sbd import convert_sbd_noval, sbd_noval_ids

SCRIBE_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'scribe', '*.py')))


@pytest.fixture(scope='module')
def voc_with_sbd(tmp_path_factory):
    """A tiny VOC devkit plus an SBD release whose train list overlaps VOC val."""
    root = str(tmp_path_factory.mktemp('vocsbd'))
    voc = datafactory.write_voc(root, n_train=3, n_val=2)
    sbd = osp.join(root, 'benchmark_RELEASE', 'dataset')
    os.makedirs(osp.join(sbd, 'cls'))
    os.makedirs(osp.join(sbd, 'img'))
    with open(osp.join(voc, 'ImageSets', 'Segmentation', 'val.txt')) as f:
        voc_val = f.read().split()
    rng = np.random.default_rng(7)
    sbd_ids = ['2008_000001', voc_val[0], '2008_000002', '2008_000003']
    for img_id in sbd_ids:
        image, label = datafactory.make_scene(rng, (96, 96), 21, background=0)
        label[label == 255] = 0  # SBD has no ignore border
        savemat(osp.join(sbd, 'cls', f'{img_id}.mat'),
                {'GTcls': {'Segmentation': label, 'CategoriesPresent': np.unique(label)}})
        Image.fromarray(image).save(osp.join(sbd, 'img', f'{img_id}.jpg'))
    with open(osp.join(sbd, 'train.txt'), 'w') as f:
        f.write('\n'.join(sbd_ids) + '\n')
    return voc, sbd, sbd_ids, voc_val


def test_sbd_noval_excludes_voc_val_and_keeps_labels(voc_with_sbd):
    voc, sbd, sbd_ids, voc_val = voc_with_sbd
    expected = [i for i in sbd_ids if i not in voc_val]
    assert sbd_noval_ids(voc, sbd) == expected
    assert convert_sbd_noval(voc, sbd) == expected
    for img_id in expected:
        png = np.array(Image.open(osp.join(voc, 'SegmentationClassSBD', f'{img_id}.png')))
        from scipy.io import loadmat
        mat = loadmat(osp.join(sbd, 'cls', f'{img_id}.mat'))['GTcls']['Segmentation'][0, 0]
        np.testing.assert_array_equal(png, mat)
        assert osp.isfile(osp.join(voc, 'JPEGImages', f'{img_id}.jpg'))
    with open(osp.join(voc, 'ImageSets', 'Segmentation', 'sbd_train_noval.txt')) as f:
        assert f.read().split() == expected
    printed = run_cli([sys.executable, 'tools/dataset_converters/voc_sbd_noval.py', voc, sbd])
    assert f'wrote {len(expected)} SBD train_noval images' in printed


def test_converter_reports_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match='--voc-root'):
        sbd_noval_ids(str(tmp_path), str(tmp_path))


@pytest.mark.parametrize('path', SCRIBE_CONFIGS, ids=osp.basename)
def test_each_scribe_config_trains_two_iterations(path, tmp_path, voc_with_sbd, cityscapes_root):
    voc, sbd = voc_with_sbd[:2]
    if not osp.isfile(osp.join(voc, 'ImageSets', 'Segmentation', 'sbd_train_noval.txt')):
        convert_sbd_noval(voc, sbd)
    cfg = Config.fromfile(path)
    datafactory.shrink_config(cfg, voc if '_voc' in path else cityscapes_root, str(tmp_path))
    cfg.experiment_name = f'{osp.basename(path)}_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    loss_key = 'train/decode.loss_scribe' if path.endswith('_scribe.py') else 'train/decode.loss_ce'
    assert loss_key in scalars and np.isfinite(scalars[loss_key].current())
    if '_voc' in path:
        assert len(runner.train_dataloader.dataset) == 3 + 3  # VOC train + SBD train_noval
    head = runner.model.decode_head
    if not path.endswith('_softmax.py'):
        assert head.conv_seg.out_channels == head.num_classes - 1
