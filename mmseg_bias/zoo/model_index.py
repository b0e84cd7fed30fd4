"""Model-index metafiles in MMSeg's format: read, check against the configs, update results.

Layout, as MMSeg's: a top-level ``model-index.yml`` whose ``Import`` lists one
``configs/<folder>/metafile.yaml`` per config folder; each metafile has ``Collections`` (one per
method: ``Name``, ``Metadata.Training Data``, ``Paper`` with ``Title`` and ``URL``, ``README``) and
``Models``, one per config::

    - Name: hrnet_w48_cityscapes            # the config's file name without .py
      In Collection: DropClass
      Config: configs/dropclass/hrnet_w48_cityscapes.py
      Metadata:
        Training Data: Cityscapes
        Batch Size: 8                       # = GPUs in Training Resources x images per GPU
        Iterations: 160000                  # = train_cfg.max_iters (epoch-based: Epochs)
        Architecture: [HRNetV2p-W48, FCN, DropClass]
        Training Resources: 4x GPUs
      Results:                              # a dict, or a list of them (one per test set)
        Task: Semantic Segmentation
        Dataset: Cityscapes
        Metrics: {}                         # measured numbers only; empty until measured
      Weights: https://... or a repository-relative path <name>-<8 hex>.pth
      Framework: PyTorch

``Weights`` is required once ``Metrics`` holds a number (a result must come with its checkpoint).
Weights trained with overrides of their config (``tools/train.py --cfg-options``) name them in
``Metadata.cfg-options`` (a mapping); Iterations (or, for an epoch-based schedule, Epochs =
``train_cfg.max_epochs``) and Batch Size are compared with the config after merging them.
Every config outside ``configs/_base_`` is listed, baselines included: they are trained and
reported like the methods they are compared with.
"""
import glob
import os.path as osp
import re

import yaml
from mmengine.config import Config

from mmseg_bias.utils import atomic_open

__all__ = ['load_metafile', 'dump_metafile', 'index_metafiles', 'config_files', 'check_metafile',
           'check_model_index', 'update_model_results', 'MODEL_METADATA']

INDEX_FILE = 'model-index.yml'
MODEL_KEYS = ('Name', 'In Collection', 'Config', 'Metadata', 'Results')
MODEL_METADATA = ('Training Data', 'Batch Size', 'Architecture', 'Training Resources')
SCHEDULE_KEYS = {'Iterations': 'max_iters', 'Epochs': 'max_epochs'}  # one of them is required
RESULT_KEYS = ('Task', 'Dataset', 'Metrics')
COLLECTION_KEYS = ('Name', 'Metadata', 'Paper', 'README')
_WEIGHTS = re.compile(r'^(https?://\S+|[^/\s][^\s]*-[0-9a-f]{8}\.pth)$')
_RESOURCES = re.compile(r'^(\d+)x \S')


def load_metafile(path):
    """A metafile / model index as a dict (YAML); ``ValueError`` if it is not a mapping."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path} does not hold a YAML mapping (Collections / Models / Import)')
    return data


def dump_metafile(data, path):
    """Write ``data`` as YAML in MMSeg's metafile style (key order kept), atomically."""
    with atomic_open(path) as f:
        yaml.safe_dump(data, f, sort_keys=False, allow_unicode=True, default_flow_style=False,
                       width=100)


def index_metafiles(root, index=INDEX_FILE):
    """Absolute paths of the metafiles imported by ``root/<index>``, in their listed order."""
    data = load_metafile(osp.join(root, index))
    imports = data.get('Import')
    if not isinstance(imports, list) or not imports:
        raise ValueError(f'{osp.join(root, index)} has no Import list of metafiles')
    return [osp.join(root, path) for path in imports]


def config_files(root):
    """Repository-relative paths of every config that must be listed (all but ``configs/_base_``)."""
    paths = glob.glob(osp.join(root, 'configs', '**', '*.py'), recursive=True)
    rel = (osp.relpath(p, root).replace(osp.sep, '/') for p in paths)
    return sorted(p for p in rel if '/_base_/' not in p)


def _results(model):
    results = model.get('Results')
    return results if isinstance(results, list) else [results]


def _missing(entry, keys):
    return [k for k in keys if k not in entry]


def _check_collection(collection, root, where):
    errors = [f'{where}: missing {k!r}' for k in _missing(collection, COLLECTION_KEYS)]
    if not isinstance(collection.get('Metadata', {}).get('Training Data'), (str, list)):
        errors.append(f'{where}: Metadata has no Training Data')
    paper = collection.get('Paper') or {}
    errors += [f'{where}: Paper has no {k!r}' for k in ('Title', 'URL') if not paper.get(k)]
    readme = collection.get('README')
    if readme and not osp.isfile(osp.join(root, readme)):
        errors.append(f'{where}: README {readme} does not exist')
    return errors


def _check_result(result, where):
    if not isinstance(result, dict):
        return [f'{where}: Results must be a mapping or a list of mappings']
    errors = [f'{where}: Results missing {k!r}' for k in _missing(result, RESULT_KEYS)]
    metrics = result.get('Metrics')
    if not isinstance(metrics, dict):
        errors.append(f'{where}: Results.Metrics must be a mapping (empty until measured)')
        return errors
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f'{where}: metric {name!r} is {value!r}, not a number')
    return errors


def _check_against_config(model, root, where):
    """Iterations (or Epochs) and batch size of the entry agree with its config."""
    cfg = Config.fromfile(osp.join(root, model['Config']))
    meta = model['Metadata']
    errors = []
    options = meta.get('cfg-options') or {}
    if not isinstance(options, dict):
        return [f'{where}: Metadata.cfg-options must be a mapping of config overrides']
    cfg.merge_from_dict(options)
    train_cfg = cfg.get('train_cfg') or {}
    key, length = next(((k, v) for k, v in SCHEDULE_KEYS.items() if v in train_cfg),
                       ('Iterations', 'max_iters'))
    if meta.get(key) != train_cfg.get(length):
        errors.append(f'{where}: {key} {meta.get(key)} but the config trains '
                      f'{train_cfg.get(length)} (train_cfg.{length})')
    devices = _RESOURCES.match(str(meta.get('Training Resources', '')))
    if devices is None:
        errors.append(f"{where}: Training Resources must read '<N>x <device>', e.g. '4x GPUs'")
    else:
        batch = int(devices.group(1)) * cfg.train_dataloader.batch_size
        if meta.get('Batch Size') != batch:
            errors.append(f'{where}: Batch Size {meta.get("Batch Size")} but the config trains '
                          f'{devices.group(1)} x {cfg.train_dataloader.batch_size} = {batch}')
    return errors


def _check_model(model, index, collections, folder, root, rel, against_configs):
    """Problems of one ``Models`` entry of metafile ``rel`` (see :func:`check_metafile`)."""
    where = f'{rel}: {model.get("Name", f"Models[{index}]")}'
    missing = _missing(model, MODEL_KEYS)
    if missing:
        return [f'{where}: missing {", ".join(map(repr, missing))}']
    errors = []
    if model['In Collection'] not in collections:
        errors.append(f'{where}: In Collection {model["In Collection"]!r} is not one of the '
                      f'Collections {sorted(collections)}')
    config = model['Config']
    if osp.dirname(config) != folder:
        errors.append(f'{where}: Config {config} is not in the metafile\'s folder {folder}')
    if not osp.isfile(osp.join(root, config)):
        errors.append(f'{where}: Config {config} does not exist')
    elif osp.splitext(osp.basename(config))[0] != model['Name']:
        errors.append(f'{where}: Name must be the config file name without .py')
    errors += [f'{where}: Metadata missing {k!r}'
               for k in _missing(model['Metadata'], MODEL_METADATA)]
    if not any(k in model['Metadata'] for k in SCHEDULE_KEYS):
        errors.append(f"{where}: Metadata missing 'Iterations' (or 'Epochs' for an epoch-based "
                      'schedule)')
    measured = False
    for result in _results(model):
        errors += _check_result(result, where)
        measured |= bool(isinstance(result, dict) and result.get('Metrics'))
    weights = model.get('Weights')
    if measured and not weights:
        errors.append(f'{where}: has measured Metrics but no Weights')
    if weights and not _WEIGHTS.match(str(weights)):
        errors.append(f'{where}: Weights {weights!r} is neither an http(s) URL nor a '
                      'repository-relative path <name>-<8 hex>.pth')
    if against_configs and not errors:
        errors += _check_against_config(model, root, where)
    return errors


def check_metafile(path, root, against_configs=True):
    """Every problem of one metafile, as one-line messages (empty list: the metafile is sound).

    Args:
        path (str): the metafile.
        root (str): repository root; ``Config`` and ``README`` paths are relative to it.
        against_configs (bool): also load each config and compare Iterations / Epochs and
            Batch Size.
    """
    rel = osp.relpath(path, root)
    try:
        data = load_metafile(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [f'{rel}: {str(exc).splitlines()[0]}']
    errors = [f'{rel}: unknown top-level key {k!r}' for k in data if k not in ('Collections',
                                                                            'Models')]
    collections = data.get('Collections') or []
    names = {c.get('Name') for c in collections if isinstance(c, dict)}
    for i, collection in enumerate(collections):
        errors += _check_collection(collection, root, f'{rel}: Collections[{i}]')
    models = data.get('Models')
    if not isinstance(models, list) or not models:
        return errors + [f'{rel}: no Models list']
    folder = osp.dirname(rel).replace(osp.sep, '/')
    for i, model in enumerate(models):
        errors += _check_model(model, i, names, folder, root, rel, against_configs)
    return errors


def check_model_index(root, index=INDEX_FILE, against_configs=True):
    """Every problem of the repository's model index, as one-line messages.

    Checks each imported metafile (:func:`check_metafile`), that every config folder's metafile is
    imported, that model names are unique, that every config (:func:`config_files`) is listed and
    that every listed config exists.
    """
    try:
        metafiles = index_metafiles(root, index)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [str(exc).splitlines()[0]]
    return _check_index(root, index, metafiles, against_configs)


def _check_index(root, index, metafiles, against_configs):
    errors = []
    imported = {osp.abspath(p) for p in metafiles}
    for path in glob.glob(osp.join(root, 'configs', '*', 'metafile.yaml')):
        if osp.abspath(path) not in imported:
            errors.append(f'{osp.relpath(path, root)} is not imported by {index}')
    listed, names = [], set()
    for path in metafiles:
        if not osp.isfile(path):
            errors.append(f'{index} imports {osp.relpath(path, root)}, which does not exist')
            continue
        errors += check_metafile(path, root, against_configs)
        try:
            models = load_metafile(path).get('Models') or []
        except (ValueError, yaml.YAMLError):
            continue
        for model in models:
            if model.get('Name') in names:
                errors.append(f'model name {model.get("Name")!r} is listed twice')
            names.add(model.get('Name'))
            listed.append(model.get('Config'))
    for config in config_files(root):
        if config not in listed:
            errors.append(f'{config} is not listed in any metafile; add it to '
                          f'{osp.dirname(config)}/metafile.yaml')
    return errors


def update_model_results(metafile, name, dataset, metrics, weights, metadata=None):
    """Set the measured ``metrics`` and ``weights`` of model ``name`` in ``metafile`` (atomically).

    Args:
        metafile (str): the metafile to rewrite (other entries and fields are kept).
        name (str): the model's ``Name``.
        dataset (str): the ``Dataset`` of the result to set (one of the model's Results).
        metrics (dict): metric name -> number, e.g. ``{'mIoU': 71.3}``.
        weights (str): URL or repository-relative path of the published checkpoint.
        metadata (dict, optional): ``Metadata`` fields to set too, e.g. ``Iterations`` and
            ``cfg-options`` when the weights were trained with overrides of their config.
    """
    data = load_metafile(metafile)
    models = {m.get('Name'): m for m in data.get('Models') or []}
    if name not in models:
        raise KeyError(f'{metafile} lists no model named {name!r}; add its entry first')
    results = [r for r in _results(models[name]) if r.get('Dataset') == dataset]
    if not results:
        raise KeyError(f'model {name!r} in {metafile} has no Results entry for {dataset!r}')
    results[0]['Metrics'] = {k: float(v) for k, v in metrics.items()}
    models[name]['Weights'] = weights
    models[name]['Metadata'].update(metadata or {})
    dump_metafile(data, metafile)
