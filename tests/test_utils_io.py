"""Atomic result files."""
import math
import os

import numpy as np
import pytest

from mmseg_bias.utils import atomic_open, dump_csv, dump_json, load_json, save_figure


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / 'r.json'
    dump_json({'a': 1}, str(path))
    with pytest.raises(RuntimeError):
        with atomic_open(str(path)) as f:
            f.write('{"partial": ')
            raise RuntimeError('killed')
    assert load_json(str(path)) == {'a': 1}
    assert os.listdir(tmp_path) == ['r.json']


def test_json_csv_and_figure(tmp_path):
    dump_json({'x': np.float32(1.5), 'v': np.arange(3), 'n': float('nan')}, str(tmp_path / 'a.json'))
    data = load_json(str(tmp_path / 'a.json'))
    assert data['x'] == 1.5 and data['v'] == [0, 1, 2] and math.isnan(data['n'])
    dump_csv([[1, 'a'], [2, 'b']], str(tmp_path / 't.csv'), header=['i', 's'])
    assert (tmp_path / 't.csv').read_text().splitlines() == ['i,s', '1,a', '2,b']
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, str(tmp_path / 'f.png'))
    assert (tmp_path / 'f.png').read_bytes()[:4] == b'\x89PNG'


def test_results_get_the_permissions_open_would_give(tmp_path):
    """mkstemp creates 0600 files; a result file must be readable as a plain open() makes it."""
    dump_json({'a': 1}, str(tmp_path / 'r.json'))
    with open(tmp_path / 'plain.txt', 'w') as f:
        f.write('x')
    mode = os.stat(tmp_path / 'r.json').st_mode & 0o777
    assert mode == os.stat(tmp_path / 'plain.txt').st_mode & 0o777
