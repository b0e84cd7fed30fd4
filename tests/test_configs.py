"""Every config under configs/ loads, and every full config builds its model (new configs are covered
automatically)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from helpers import REPO

ALL = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
FULL = [p for p in ALL if '_base_' not in p.split(osp.sep)]


def _ids(paths):
    return [osp.relpath(p, osp.join(REPO, 'configs')) for p in paths]


@pytest.mark.parametrize('path', ALL, ids=_ids(ALL))
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert cfg.filename == path


@pytest.mark.parametrize('path', FULL, ids=_ids(FULL))
def test_config_builds_model(path):
    import mmseg_bias  # noqa: F401
    from mmseg.registry import MODELS
    cfg = Config.fromfile(path)
    assert 'mmseg_bias' in cfg.custom_imports['imports']
    cfg.model.pretrained = None  # no downloads in tests
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    classes = cfg.test_dataloader.dataset.get('metainfo', {}).get('classes')
    if classes is None:
        from mmseg.registry import DATASETS
        classes = DATASETS.get(cfg.test_dataloader.dataset.type).METAINFO['classes']
    assert model.decode_head.num_classes == len(classes)
