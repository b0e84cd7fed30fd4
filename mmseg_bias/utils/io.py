"""Result files written atomically: a temp file in the target folder, then ``os.replace``.

A reader (or a resumed run) never sees a half-written JSON, CSV or PNG.
"""
import csv
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager

__all__ = ['atomic_open', 'dump_json', 'load_json', 'dump_csv', 'save_figure']

_UMASK = os.umask(0o022)  # read once at import (os.umask can only read by setting), then restored
os.umask(_UMASK)


@contextmanager
def atomic_open(path, mode='w', **kwargs):
    """``open()`` for writing whose file appears at ``path`` only if the block succeeds.

    The file gets the permissions ``open()`` would give it (0666 less the umask), not mkstemp's 0600.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def dump_json(obj, path, indent=2):
    """Write ``obj`` as JSON (NaN allowed, numpy scalars converted)."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=indent, default=_plain)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def dump_csv(rows, path, header=None):
    """Write ``rows`` (sequences) as CSV, with an optional header row."""
    with atomic_open(path, newline='') as f:
        writer = csv.writer(f)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def save_figure(fig, path, dpi=120):
    """Save a matplotlib figure (format from the extension) and close it."""
    import matplotlib.pyplot as plt
    fmt = osp.splitext(path)[1].lstrip('.') or 'png'
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format=fmt, dpi=dpi, bbox_inches='tight')
    plt.close(fig)


def _plain(obj):
    """JSON fallback for numpy / torch scalars and arrays."""
    if hasattr(obj, 'tolist'):
        return obj.tolist()
    raise TypeError(f'{type(obj).__name__} is not JSON serialisable')
