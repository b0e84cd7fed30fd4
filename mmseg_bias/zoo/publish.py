"""Publish a trained checkpoint for a model zoo: weights and plain metadata only, named by its hash.

A published file holds exactly two entries, as MMSeg's own zoo checkpoints: ``state_dict`` (tensors)
and ``meta`` (plain Python values: the training config text, class names and palette, the versions
it was published with, and the run's seed / iteration / timestamps). Optimizer, message-hub,
parameter-scheduler and EMA state are dropped. The file is named ``<OUT>-<first 8 hex digits of its
sha256>.pth``, so a download can be checked against its name (:func:`verify_published`), and it
loads with torch's ``weights_only=True`` without any extra allowed globals.
"""
import hashlib
import os
import os.path as osp
import re
import tempfile

import mmengine
import mmseg
import torch

from mmseg_bias.compat import load_from_local_safe
from mmseg_bias.version import __version__

__all__ = ['publish_checkpoint', 'verify_published', 'published_meta', 'sha256sum',
           'published_name', 'HASH_CHARS']

HASH_CHARS = 8
PUBLISHED_KEYS = ('meta', 'state_dict')
# what a published checkpoint needs in its meta, and how to obtain it when it is missing
REQUIRED_META = {
    'cfg': 'the training config text, which mmengine writes into every checkpoint',
    'dataset_meta': 'the class names and palette, which mmengine writes into every checkpoint',
}
_PUBLISHED_NAME = re.compile(r'^(?P<stem>.+)-(?P<hash>[0-9a-f]{%d})\.pth$' % HASH_CHARS)


def sha256sum(path, chunk_bytes=1 << 20):
    """Hex sha256 digest of a file, read in ``chunk_bytes`` chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b''):
            digest.update(chunk)
    return digest.hexdigest()


def published_name(out, sha256):
    """``OUT-<first 8 hex>.pth`` for an output stem (a trailing ``.pth`` in ``out`` is dropped)."""
    stem = out[:-len('.pth')] if out.endswith('.pth') else out
    return f'{stem}-{sha256[:HASH_CHARS]}.pth'


def _plain(value, where):
    """``value`` as plain Python (dict/list/tuple/str/int/float/bool/None); numpy and tensors become
    lists or scalars. Anything else raises ``ValueError`` naming its place ``where``."""
    if value is None or isinstance(value, bool):
        return value
    for kind in (str, int, float):  # exact types: subclasses such as TorchVersion are globals
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):  # e.g. dataset_meta['label_map'] has int keys
        return {_plain(k, f'{where} key {k!r}'): _plain(v, f'{where}[{k!r}]')
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f'{where}[{i}]') for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if hasattr(value, 'tolist'):  # numpy arrays and scalars, tensors
        return _plain(value.tolist(), where)
    raise ValueError(f'checkpoint meta{where} is a {type(value).__name__}, which is not plain '
                     'metadata; remove it from the checkpoint before publishing')


def published_meta(meta):
    """The meta dict a published checkpoint carries: the training run's meta, made plain, plus
    the versions of mmseg_bias, mmseg, mmengine and torch (those the training run recorded are
    kept; mmengine records its own, the others are taken at publishing).

    Raises:
        ValueError: ``meta`` lacks the config text or the dataset meta (class names, palette).
    """
    meta = _plain(dict(meta or {}), '')
    for key, what in REQUIRED_META.items():
        if not meta.get(key):
            raise ValueError(f'the checkpoint has no meta[{key!r}] ({what}); publish a checkpoint '
                             'saved by tools/train.py (the mmengine Runner)')
    for key in ('classes', 'palette'):
        if not meta['dataset_meta'].get(key):
            raise ValueError(f"the checkpoint's meta['dataset_meta'] has no {key!r}; publish a "
                             'checkpoint saved by tools/train.py with a dataset that defines it')
    versions = dict(mmseg_bias_version=__version__, mmseg_version=mmseg.__version__,
                    mmengine_version=mmengine.__version__, torch_version=str(torch.__version__))
    for key, version in versions.items():
        meta.setdefault(key, version)
    return meta


def _state_dict(checkpoint, src):
    """The CPU tensors of ``checkpoint['state_dict']`` (or of a bare state dict)."""
    state = checkpoint.get('state_dict', checkpoint)
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad or not state:
        raise ValueError(f'{src} has no state_dict of tensors (e.g. {bad[:1] or "empty"}); pass a '
                         'checkpoint saved by tools/train.py (work_dirs/<config>/iter_N.pth)')
    return type(state)((k, v.detach().cpu()) for k, v in state.items())


def _link_no_overwrite(tmp, final):
    """Make ``tmp`` appear as ``final`` unless ``final`` exists (atomically where links work)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise FileExistsError(f'{final} already exists and published checkpoints are never '
                              'overwritten; delete it or choose another OUT') from None
    except OSError:  # a file system without hard links: check, then rename
        if osp.exists(final):
            raise FileExistsError(f'{final} already exists and published checkpoints are never '
                                  'overwritten; delete it or choose another OUT') from None
        os.replace(tmp, final)


def publish_checkpoint(src, out):
    """Write the publishable form of checkpoint ``src`` as ``<out>-<sha256[:8]>.pth``.

    Args:
        src (str): a checkpoint written by the mmengine Runner (``tools/train.py``); loaded with
            the safe loader of :mod:`mmseg_bias.compat` (tensors and mmengine's plain state only).
        out (str): output path stem, e.g. ``zoo/hrnet_w48_cityscapes_dropclass`` (a trailing
            ``.pth`` is dropped); its folder is created.

    Returns:
        tuple[str, str]: the published file's path and its full sha256 hex digest.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: the published file exists already (nothing is overwritten).
        ValueError: ``src`` lacks the state dict, the config text or the class names / palette.
        mmseg_bias.compat.UnsafeCheckpointError: ``src`` holds something other than tensors and
            plain state.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint {src!r} does not exist; pass a .pth written by '
                                'tools/train.py (e.g. work_dirs/<config>/iter_80000.pth)')
    checkpoint = load_from_local_safe(src, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{src} holds a {type(checkpoint).__name__}, not a checkpoint dict')
    published = dict(meta=published_meta(checkpoint.get('meta')),
                     state_dict=_state_dict(checkpoint, src))
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(out)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(published, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would keep a shared zoo file private
        sha256 = sha256sum(tmp)
        final = published_name(out, sha256)
        _link_no_overwrite(tmp, final)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)
    return final, sha256


def verify_published(path):
    """Check a published checkpoint: its name's hash matches its content, it holds only
    ``meta`` and ``state_dict``, and it loads with plain ``torch.load(weights_only=True)``.

    Returns:
        dict: the published ``meta``.

    Raises:
        ValueError: any of the above does not hold (the message says which).
    """
    match = _PUBLISHED_NAME.match(osp.basename(path))
    if match is None:
        raise ValueError(f'{path} is not named <name>-<{HASH_CHARS} hex digits>.pth; publish it '
                         'with tools/misc/publish_model.py')
    sha256 = sha256sum(path)
    if not sha256.startswith(match['hash']):
        raise ValueError(f'{path} has sha256 {sha256[:HASH_CHARS]}..., not the {match["hash"]} in '
                         'its name: the file is corrupt or was changed after publishing')
    refused = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    if refused:
        raise ValueError(f'{path} holds {", ".join(refused)}, which torch.load(weights_only=True) '
                         'refuses; re-publish it with tools/misc/publish_model.py')
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, dict) or sorted(checkpoint) != sorted(PUBLISHED_KEYS):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f'{path} holds {keys}, not exactly {list(PUBLISHED_KEYS)}')
    return checkpoint['meta']
