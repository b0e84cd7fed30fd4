"""The stack workarounds in mmseg_bias.compat: safe checkpoint loading and CPU-only distributed runs."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

from mmseg_bias import compat


class _RunsShell:
    """Unpickling this would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class _GetattrLookup:
    """Unpickles as getattr(obj, name)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


def test_mmengine_checkpoint_needs_the_workaround(trained_checkpoint):
    _, ckpt = trained_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)  # torch >= 2.6's default refuses mmengine's state


def test_safe_loader_reads_a_full_mmengine_checkpoint(trained_checkpoint):
    _, ckpt = trained_checkpoint
    checkpoint = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'} <= set(checkpoint)
    buffers = checkpoint['message_hub']['log_scalars']
    loss = buffers['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert loss.statistics('mean') == pytest.approx(float(loss.data[0].mean()))
    assert checkpoint['meta']['iter'] == 2


def test_safe_loader_refuses_code_execution(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'payload': _RunsShell(marker)}, path)
    with pytest.raises(compat.UnsafeCheckpointError, match=r'system') as info:
        CheckpointLoader.load_checkpoint(str(path))
    assert '\n' not in str(info.value)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize('obj,name', [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'),
                                      (torch.Tensor, 'add_'), (np.ndarray, 'tofile')])
def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path, obj, name):
    path = tmp_path / 'lookup.pth'
    torch.save({'x': _GetattrLookup(obj, name)}, path)
    with pytest.raises(compat.UnsafeCheckpointError):
        compat.load_from_local_safe(str(path))


def test_getattr_of_statistics_method_round_trips(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save({'f': _GetattrLookup(HistoryBuffer, 'mean')}, path)
    assert compat.load_from_local_safe(str(path))['f'] is HistoryBuffer.mean


def test_safe_loader_keeps_mmengine_errors_for_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        compat.load_from_local_safe(str(tmp_path / 'missing.pth'))


def test_cpu_distributed_is_a_no_op_without_launcher():
    cfg = Config(dict(model_wrapper_cfg=None))
    assert compat.prepare_cpu_distributed(cfg, 'none') is False
    assert cfg.model_wrapper_cfg is None


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only applies without CUDA')
def test_cpu_distributed_refuses_launchers_it_cannot_serve():
    with pytest.raises(RuntimeError, match='torchrun'):
        compat.prepare_cpu_distributed(Config(dict()), 'slurm')


def test_cpu_wrapper_reverts_syncbn_and_drops_device_ids(gloo_group):
    """The wrapper builds (and trains) where MMDistributedDataParallel(device_ids=[0]) fails."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.SyncBatchNorm(4))
    wrapped = compat.CPUDistributedDataParallel(model, device_ids=[0])
    assert isinstance(wrapped.module[1], torch.nn.modules.batchnorm._BatchNorm)
    assert not isinstance(wrapped.module[1], torch.nn.SyncBatchNorm)
    assert wrapped.device_ids is None
    out = wrapped(torch.randn(2, 3, 4, 4))
    out.sum().backward()


def test_cpu_process_group_is_destroyed_at_exit(monkeypatch):
    """A process exiting with a live gloo group can abort in teardown; the group is destroyed at exit."""
    import atexit
    import torch.distributed as dist
    registered = []
    monkeypatch.setattr(atexit, 'register', registered.append)
    for key, value in dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='29533').items():
        monkeypatch.setenv(key, value)
    compat.init_cpu_process_group(timeout_s=60)
    try:
        assert dist.is_initialized() and registered == [compat.destroy_cpu_process_group]
        compat.init_cpu_process_group(timeout_s=60)  # already running: nothing new registered
        assert len(registered) == 1
    finally:
        compat.destroy_cpu_process_group()
    assert not dist.is_initialized()


def _ce_inputs():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    label = torch.randint(0, 4, (2, 5, 6))
    label[:, 0] = 255
    return logits, label


def test_class_weighted_ce_with_ignore_pixels_matches_pytorch():
    from mmseg.models.losses import CrossEntropyLoss
    logits, label = _ce_inputs()
    class_weight = [0.5, 1.0, 2.0, 1.5]
    loss = CrossEntropyLoss(class_weight=class_weight, avg_non_ignore=True)
    expected = torch.nn.functional.cross_entropy(
        logits, label, weight=torch.tensor(class_weight), ignore_index=255)
    torch.testing.assert_close(loss(logits, label, ignore_index=255), expected)


def test_unit_class_weights_match_the_unweighted_loss():
    from mmseg.models.losses import CrossEntropyLoss
    logits, label = _ce_inputs()
    for avg_non_ignore in (True, False):
        weighted = CrossEntropyLoss(class_weight=[1.0] * 4, avg_non_ignore=avg_non_ignore)
        plain = CrossEntropyLoss(avg_non_ignore=avg_non_ignore)
        torch.testing.assert_close(weighted(logits, label, ignore_index=255),
                                   plain(logits, label, ignore_index=255))


def test_mmseg_config_resolution_reads_each_metafile_once(monkeypatch, tmp_path):
    """mmengine re-reads mmseg's 50+ metafiles for every mmseg:: base; compat memoises them."""
    reads = []
    original = compat._mmengine_load
    monkeypatch.setattr(compat, '_mmengine_load', lambda path: reads.append(path) or original(path))
    compat.read_package_metafile.cache_clear()
    config = tmp_path / 'child.py'
    config.write_text("_base_ = ['mmseg::hrnet/fcn_hr18s_4xb2-80k_cityscapes-512x1024.py']\n")
    first = Config.fromfile(str(config))
    count = len(reads)
    assert count > 40 and len(set(reads)) == count  # the model index and every metafile, once
    second = Config.fromfile(str(config))
    assert len(reads) == count
    assert first.model.backbone.extra.stage4.num_channels == \
        second.model.backbone.extra.stage4.num_channels == (18, 36, 72, 144)
