"""Class frequency of a dataset, read from its label maps only (DropClass supp. §C).

Two measures, as in the paper: pixel frequency (share of all labelled pixels; used for Cityscapes)
and instance frequency (share of images that contain the class; used for Pascal VOC). Labels are
decoded by MMSeg's ``LoadAnnotations`` with the dataset's ``label_map`` / ``reduce_zero_label``,
so a config that ignores a class (e.g. VOC without background) is counted as it is trained.
"""
import copy
import os.path as osp

import numpy as np
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar, import_modules_from_strings
from mmseg.registry import DATASETS

from mmseg_bias.apis import read_config
from mmseg_bias.utils import atomic_open, dump_csv, dump_json, load_json

__all__ = ['class_frequency', 'frequency_order', 'load_frequency', 'save_class_frequency',
           'write_table', 'load_analysis_config', 'dataset_metainfo', 'MEASURES']

MEASURES = ('pixel', 'instance')


def load_analysis_config(config, cfg_options=None):
    """A :class:`Config` (a copy; see :func:`mmseg_bias.apis.read_config`) with ``cfg_options``
    merged and its ``custom_imports`` imported."""
    cfg = read_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def _leaf_datasets(dataset_cfg):
    """Dataset configs inside wrappers (ConcatDataset lists, RepeatDataset is read once)."""
    if 'datasets' in dataset_cfg:
        return [leaf for d in dataset_cfg['datasets'] for leaf in _leaf_datasets(d)]
    if 'dataset' in dataset_cfg:
        return _leaf_datasets(dataset_cfg['dataset'])
    return [dataset_cfg]


def _label_only(dataset_cfg):
    """``dataset_cfg`` with a pipeline of just its LoadAnnotations step (options kept)."""
    cfg = copy.deepcopy(dataset_cfg)
    steps = [s for s in cfg.get('pipeline', []) if s.get('type') == 'LoadAnnotations']
    cfg['pipeline'] = steps[:1] or [dict(type='LoadAnnotations')]
    return cfg


def _split_datasets(cfg, split):
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise KeyError(f'the config has no {key}; choose a split among train/val/test that it has')
    return [DATASETS.build(_label_only(leaf)) for leaf in _leaf_datasets(cfg[key]['dataset'])]


def dataset_metainfo(config, split='test'):
    """The metainfo (``classes``, ``palette``, ...) of the config's ``split`` dataset."""
    return dict(_split_datasets(load_analysis_config(config), split)[0].metainfo)


def class_frequency(config, split='train', progress=True):
    """Count every class's pixels and images over the label maps of ``split``.

    Args:
        config (str | Config): an MMSeg config; its ``<split>_dataloader.dataset`` is read.
        split (str): 'train' (the paper's choice), 'val' or 'test'.
        progress (bool): show a progress bar.

    Returns:
        dict: ``classes``; ``pixel_count`` / ``image_count`` (K,) ints; ``pixel_freq`` and
        ``instance_freq`` (K,) in % (of labelled pixels / of images); ``num_images``;
        ``num_pixels`` (labelled, ignore excluded); ``split``.
    """
    datasets = _split_datasets(load_analysis_config(config), split)
    classes = tuple(datasets[0].metainfo['classes'])
    k = len(classes)
    pixels, images = np.zeros(k, np.int64), np.zeros(k, np.int64)
    total = sum(len(d) for d in datasets)
    bar = ProgressBar(total) if progress else None
    for dataset in datasets:
        for i in range(len(dataset)):
            label = np.asarray(dataset[i]['gt_seg_map'])
            counts = np.bincount(label[label < k].ravel(), minlength=k)[:k]
            pixels += counts
            images += counts > 0
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.file.write('\n')
    if total == 0:
        raise ValueError(f'the {split} dataset of the config is empty; check data_root/ann_file')
    num_pixels = int(pixels.sum())
    return dict(classes=classes, split=split, num_images=total, num_pixels=num_pixels,
                pixel_count=pixels.tolist(), image_count=images.tolist(),
                pixel_freq=(100.0 * pixels / max(num_pixels, 1)).tolist(),
                instance_freq=(100.0 * images / total).tolist())


def load_frequency(path):
    """A frequency dict written by :func:`save_class_frequency` (``class_frequency.json``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'frequency file {path!r} does not exist; write it with '
                                'tools/analysis/class_frequency.py')
    freq = load_json(path)
    if 'pixel_freq' not in freq or 'classes' not in freq:
        raise ValueError(f'{path} is not a class_frequency.json (no pixel_freq/classes)')
    return freq


def frequency_order(freq, by='pixel', classes=None):
    """Class indices sorted by increasing ``by`` frequency ('pixel' | 'instance'), ties broken
    by the other measure, then by class index.

    ``classes`` (optional): the class names the caller's arrays use; must match ``freq``'s.
    """
    if by not in MEASURES:
        raise ValueError(f'frequency measure must be one of {MEASURES}, got {by!r}')
    if classes is not None and tuple(classes) != tuple(freq['classes']):
        raise ValueError(f'the frequency table is for classes {tuple(freq["classes"])}, not '
                         f'{tuple(classes)}; compute it from the same config')
    other = MEASURES[1 - MEASURES.index(by)]
    return np.lexsort((np.asarray(freq[f'{other}_freq'], float),
                       np.asarray(freq[f'{by}_freq'], float))).tolist()


def _fmt(value, digits):
    if isinstance(value, (float, np.floating)):
        return 'nan' if np.isnan(value) else f'{value:.{digits}f}'
    return str(value)


def write_table(stem, header, rows, digits=2):
    """Write ``rows`` as ``<stem>.csv`` (full precision) and ``<stem>.md`` (``digits`` decimals)."""
    dump_csv(rows, f'{stem}.csv', header=header)
    lines = ['| ' + ' | '.join(map(str, header)) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(_fmt(v, digits) for v in row) + ' |' for row in rows]
    with atomic_open(f'{stem}.md') as f:
        f.write('\n'.join(lines) + '\n')


def save_class_frequency(freq, out_dir, by='pixel'):
    """Write ``class_frequency.{json,csv,md}``; table rows sorted by increasing ``by`` frequency.

    Returns:
        list[str]: paths written.
    """
    dump_json(dict(freq, sorted_by=by), osp.join(out_dir, 'class_frequency.json'))
    order = frequency_order(freq, by)
    header = ['class', 'pixel_freq_%', 'instance_freq_%', 'pixels', 'images']
    rows = [[freq['classes'][i], freq['pixel_freq'][i], freq['instance_freq'][i],
             freq['pixel_count'][i], freq['image_count'][i]] for i in order]
    stem = osp.join(out_dir, 'class_frequency')
    write_table(stem, header, rows, digits=3)
    return [f'{stem}.json', f'{stem}.csv', f'{stem}.md']
