"""Every workaround for the pinned stack (torch 2.13, mmengine 0.10.7, mmcv 2.1.0, mmseg 1.2.2).

Nothing else in mmseg_bias patches or replaces third-party behaviour. Each workaround below says
which problem it solves; ``tests/test_compat.py`` shows each one working.

1. **Checkpoints on torch >= 2.6.** mmengine 0.10.7 loads local checkpoints with a bare
   ``torch.load(filename)``; torch >= 2.6 defaults to ``weights_only=True``, which refuses the numpy
   arrays and mmengine ``HistoryBuffer`` objects that every mmengine checkpoint holds, so ``--resume``
   and ``load_from`` fail. We re-register mmengine's local-file scheme (its public
   ``CheckpointLoader.register_scheme`` API) with a loader that keeps ``weights_only=True`` and
   allows exactly the extra globals mmengine's own checkpoints contain. ``HistoryBuffer`` pickles its
   statistics methods as ``getattr(HistoryBuffer, 'mean')`` (pickle protocol 2), so ``getattr`` is
   allowed only for those look-ups. Anything else is refused with :class:`UnsafeCheckpointError`,
   naming the global.
2. **Distributed launch on a CPU-only machine.** mmengine's ``init_dist('pytorch')`` calls
   ``torch.cuda.set_device`` and its default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail
   without a GPU, and torch's SyncBatchNorm runs only on GPUs. :func:`prepare_cpu_distributed` starts a
   gloo process group before the Runner is built (the Runner then skips its own init) and selects
   :class:`CPUDistributedDataParallel` (``device_ids=None``, SyncBN reverted to BN). The group is
   destroyed at interpreter exit (an ``atexit`` handler): a process that exits with a live gloo
   group can abort in teardown ("terminate called without an active exception", SIGABRT) while
   gloo's worker threads still hold tensors.
3. **Class-weighted cross-entropy with ignore pixels** (mmseg issue #3734, open). mmseg 1.2.2's
   ``cross_entropy`` computes its averaging factor as ``class_weight[label]`` over *all* labels, so
   any label map with ignore (255) pixels raises ``IndexError`` once ``class_weight`` is set.
   :func:`cross_entropy_class_weight_fix` computes that factor with ignore pixels weighted 0
   (``avg_non_ignore=True``, PyTorch's weighted mean) or 1 (``avg_non_ignore=False``, as the
   unweighted loss counts them) and otherwise defers to mmseg's function; ``CrossEntropyLoss``
   instances built after ``import mmseg_bias`` use it.
4. **Slow ``mmseg::`` config resolution.** To resolve a ``mmseg::<model config>`` base, mmengine
   0.10.7 re-reads mmseg's model index and all its 50+ metafiles on every load (0.3 s of a 0.5 s
   load here: no C YAML loader), so every config a tool, test or check loads pays it again.
   :func:`read_package_metafile` memoises those reads per process (an installed package's metafiles
   do not change while it runs); it replaces the ``load`` that ``mmengine.config.utils`` uses for
   nothing but them.
"""
import atexit
import os
import os.path as osp
import pickle
import re
from datetime import timedelta
from functools import lru_cache

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.config import utils as _config_utils
from mmengine.fileio import load as _mmengine_load
from mmengine.logging import HistoryBuffer, print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner import CheckpointLoader
from mmseg.models.losses import cross_entropy_loss as _mmseg_ce

__all__ = [
    'UnsafeCheckpointError', 'checkpoint_safe_globals', 'load_from_local_safe',
    'CPUDistributedDataParallel', 'init_cpu_process_group', 'destroy_cpu_process_group',
    'prepare_cpu_distributed',
    'cross_entropy_class_weight_fix', 'read_package_metafile'
]


# ---------------------------------------------------------------------------------------------
# 1. Safe checkpoint loading
# ---------------------------------------------------------------------------------------------
class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asks to unpickle something other than tensors and mmengine's plain state."""


def _history_buffer_getattr(obj, name):
    """``builtins.getattr`` as unpickling may call it: only ``HistoryBuffer``'s statistics methods."""
    statistics = {HistoryBuffer.min, HistoryBuffer.max, HistoryBuffer.current, HistoryBuffer.mean,
                  *HistoryBuffer._statistics_methods.values()}
    member = vars(HistoryBuffer).get(name) if obj is HistoryBuffer else None
    if member not in statistics:
        raise UnsafeCheckpointError(
            f'checkpoint asks for getattr({getattr(obj, "__qualname__", obj)!r}, {name!r}); only '
            'look-ups of mmengine HistoryBuffer statistics methods are allowed')
    return member


def checkpoint_safe_globals():
    """Globals allowed on top of torch's ``weights_only`` defaults, as ``torch.serialization`` takes them.

    numpy arrays, scalars and dtypes (under both numpy 1 ``numpy.core`` and numpy 2 ``numpy._core``
    names, so checkpoints written with either load), mmengine's ``HistoryBuffer`` and the restricted
    ``getattr`` it needs.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed = [np.ndarray, np.dtype, HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')]
    for func in (multiarray._reconstruct, multiarray.scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            allowed.append((func, f'{module}.{func.__name__}'))
    # numpy 2 restores a dtype by BUILD on its class (e.g. numpy.dtypes.Float64DType)
    allowed += [type(np.dtype(code)) for code in np.typecodes['All'] if code not in 'OV']
    return allowed


def _refused_globals(filename):
    """Names of the globals in ``filename`` that the safe loader does not allow."""
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        return torch.serialization.get_unsafe_globals_in_checkpoint(filename)


def _weights_only_reason(message):
    """The one-line reason inside torch's multi-paragraph weights_only error."""
    match = re.search(r'WeightsUnpickler error:\s*(.+?)(\n|$)', message)
    return match.group(1).strip() if match else 'an object torch cannot load safely'


def load_from_local_safe(filename, map_location=None):
    """Load a local checkpoint with ``weights_only=True`` plus :func:`checkpoint_safe_globals`.

    Drop-in for mmengine's ``load_from_local`` (same arguments, same ``FileNotFoundError``).

    Raises:
        UnsafeCheckpointError: the file holds any other global (e.g. a pickled callable).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f'refusing to load {filename}: {exc}') from None
    except pickle.UnpicklingError as exc:
        names = ', '.join(_refused_globals(filename)) or _weights_only_reason(str(exc))
        raise UnsafeCheckpointError(
            f'refusing to load {filename}: it contains {names}, which is neither a tensor nor plain '
            'mmengine state; if you trust its origin, re-save only its tensors (e.g. its "state_dict") '
            'with torch.save and load that file') from None


CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)


# ---------------------------------------------------------------------------------------------
# 2. Distributed launch on CPU-only machines
# ---------------------------------------------------------------------------------------------
@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU processes on a gloo process group.

    The Runner passes ``device_ids=[LOCAL_RANK]`` to every DDP wrapper; on CPU only ``None`` is valid,
    so it is ignored. SyncBN layers become BN (torch's SyncBatchNorm needs GPUs): batch statistics
    are then computed per process.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=revert_sync_batchnorm(module), device_ids=None, **kwargs)


def destroy_cpu_process_group():
    """Destroy the default process group if one is alive (registered to run at exit)."""
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def init_cpu_process_group(timeout_s=1800):
    """Start a gloo process group from torchrun's environment, unless one is running.

    The group is destroyed at interpreter exit, while Python is still alive to release its tensors.
    """
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']),
            timeout=timedelta(seconds=timeout_s))
        atexit.register(destroy_cpu_process_group)


def prepare_cpu_distributed(cfg, launcher):
    """Make a distributed launch work on a machine without CUDA; a no-op elsewhere.

    Call before building the Runner. Starts a gloo process group from the torchrun environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and switches ``cfg.model_wrapper_cfg``
    to :class:`CPUDistributedDataParallel`, keeping its other options.

    Returns:
        bool: whether the CPU path was taken.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(f"launcher '{launcher}' needs CUDA GPUs; on a CPU-only machine launch with "
                           'torchrun (tools/dist_train.sh / tools/dist_test.sh, --launcher pytorch)')
    init_cpu_process_group(cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['type'] = 'CPUDistributedDataParallel'
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
    print_log(f'CPU-only distributed run: gloo process group, rank {torch_dist.get_rank()} of '
              f'{torch_dist.get_world_size()}, SyncBN reverted to BN', logger='current')
    return True


# ---------------------------------------------------------------------------------------------
# 3. Class-weighted cross-entropy with ignore pixels
# ---------------------------------------------------------------------------------------------
_mmseg_cross_entropy = _mmseg_ce.cross_entropy


def cross_entropy_class_weight_fix(pred, label, weight=None, class_weight=None, reduction='mean',
                                   avg_factor=None, ignore_index=-100, avg_non_ignore=False):
    """mmseg's ``cross_entropy`` (same arguments) with a correct class-weighted averaging factor.

    Args:
        pred (Tensor): logits (N, K, H, W).
        label (Tensor): class indices (N, H, W), ``ignore_index`` allowed.
    """
    if class_weight is not None and avg_factor is None and reduction == 'mean':
        ignored = label == ignore_index
        label_weights = class_weight[label.masked_fill(ignored, 0)]
        avg_factor = label_weights.masked_fill(ignored, 0.0 if avg_non_ignore else 1.0).sum()
    return _mmseg_cross_entropy(pred, label, weight=weight, class_weight=class_weight,
                                reduction=reduction, avg_factor=avg_factor,
                                ignore_index=ignore_index, avg_non_ignore=avg_non_ignore)


_mmseg_ce.cross_entropy = cross_entropy_class_weight_fix


# ---------------------------------------------------------------------------------------------
# 4. mmseg:: config resolution reads each package metafile once
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def read_package_metafile(path):
    """mmengine's ``load`` of an installed package's model index or metafile, memoised by path."""
    return _mmengine_load(path)


_config_utils.load = read_package_metafile
