"""Shared fixtures: tiny datasets in real layouts, and one short training run reused by several tests."""
import os
import os.path as osp

import pytest

import datafactory
from helpers import REPO


def pytest_configure(config):
    os.environ.setdefault('MPLBACKEND', 'Agg')


@pytest.fixture(scope='session')
def repo():
    return REPO


@pytest.fixture(scope='session')
def cityscapes_root(tmp_path_factory):
    return datafactory.write_cityscapes(str(tmp_path_factory.mktemp('cityscapes')))


@pytest.fixture(scope='session')
def voc_root(tmp_path_factory):
    return datafactory.write_voc(str(tmp_path_factory.mktemp('voc')))


@pytest.fixture(scope='session')
def tiny_config(tmp_path_factory, cityscapes_root):
    """A 2-iteration HRNet-W18-Small config on the tiny Cityscapes set (checkpoint at iter 2)."""
    path = osp.join(str(tmp_path_factory.mktemp('configs')), 'tiny_hr18s_cityscapes.py')
    return datafactory.write_tiny_config(path, datafactory.TINY_BASE, cityscapes_root, iters=2)


@pytest.fixture(scope='session')
def trained_checkpoint(tmp_path_factory, tiny_config):
    """Train the tiny config in-process once; returns (work_dir, checkpoint path)."""
    from mmseg_bias.apis import train
    work_dir = str(tmp_path_factory.mktemp('work_tiny'))
    train(tiny_config, work_dir=work_dir)
    return work_dir, osp.join(work_dir, 'iter_2.pth')



@pytest.fixture
def gloo_group(monkeypatch):
    """A one-process gloo process group for code that needs torch.distributed."""
    import torch.distributed as dist
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', '29531')
    dist.init_process_group('gloo', rank=0, world_size=1)
    yield
    dist.destroy_process_group()
