"""The toy zoo: train, publish and evaluate the Texture-MNIST models on CPU from one call.

:func:`reproduce_toy_zoo` generates the biased Texture-MNIST dataset, trains each toy model
(baseline, DropClass, IBE, SCrIBE) with a fixed seed and deterministic algorithms, publishes the
final checkpoint (:func:`~mmseg_bias.zoo.publish.publish_checkpoint`), evaluates it with mmseg's
IoU on the unbiased and the biased test sets, and writes ``results.{json,csv,md}``. Each model's
stages leave files behind (``<name>/settings.json``, ``<name>/work`` checkpoints,
``<name>/published.json``, ``<name>/result.json``), so an interrupted run resumes where it stopped;
a folder holding a run with other settings is refused rather than mixed.
:func:`update_toy_docs` then rewrites the results table of ``configs/toy/README.md`` and the
``Metrics``/``Weights`` of ``configs/toy/metafile.yaml`` from those measured numbers.
"""
import os.path as osp
import time

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mmseg_bias.apis import evaluate, init_segmentor, load_config, train
from mmseg_bias.datasets.texture_mnist import digit_class
from mmseg_bias.toy import generate_texture_mnist
from mmseg_bias.utils import atomic_open, dump_csv, dump_json, load_json

from .model_index import update_model_results
from .publish import publish_checkpoint, verify_published

__all__ = ['TOY_MODELS', 'TOY_DATA', 'RESULTS_MARKERS', 'reproduce_toy_zoo', 'train_toy_model',
           'results_table', 'rewrite_marked_section', 'update_toy_docs']

# (name, config): the models of the toy zoo, in table order
TOY_MODELS = (
    ('baseline', 'configs/toy/unet_texture_mnist.py'),
    ('dropclass', 'configs/toy/unet_texture_mnist_dropclass.py'),
    ('ibe', 'configs/toy/unet_texture_mnist_ibe.py'),
    ('scribe', 'configs/toy/unet_texture_mnist_scribe.py'),
)
# the dataset: one strongly biased digit (grid saliency supp. §S1); sizes scaled down from the
# paper's 50000 / 1000 so that four models train on a CPU in minutes
TOY_DATA = dict(bias='3:checker_8', strength='strong', num_train=6000, num_test=500, seed=0,
                test_seed=0)
RESULTS_MARKERS = ('<!-- toy-zoo-results -->', '<!-- /toy-zoo-results -->')
TEST_SETS = (('test', 'unbiased test'), ('test_biased', 'biased test'))


def _overrides(data_root, seed, iters, batch_size, workers):
    """cfg_options that point a toy config at ``data_root`` and fix its seed and schedule."""
    options = {'randomness': dict(seed=seed, deterministic=True)}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
        if workers is not None:
            options[f'{loader}.num_workers'] = workers
            options[f'{loader}.persistent_workers'] = workers > 0
    if batch_size is not None:
        options['train_dataloader.batch_size'] = batch_size
    if iters is not None:
        options['train_cfg.max_iters'] = iters
    return options


def _settings_match(path, settings):
    return osp.isfile(path) and load_json(path).get('settings') == settings


def _claim_work_dir(path, settings):
    """Record ``settings`` for a model folder; refuse one whose checkpoints used other settings
    (resuming them would mix two schedules)."""
    if osp.isfile(path) and not _settings_match(path, settings):
        raise ValueError(f'{osp.dirname(path)} holds a run with other settings '
                         f'({load_json(path)["settings"]}); choose another output folder or '
                         'delete it')
    dump_json(dict(settings=settings), path)


def train_toy_model(name, config, out_dir, data_root, bias_classes, seed=0, iters=None,
                    batch_size=None, workers=None, root='.', progress=True):
    """Train, publish and evaluate one toy model; resumes from what ``out_dir/<name>`` holds.

    Args:
        name (str): model name (file names and table rows).
        config (str): its config (``configs/toy/...``), relative to ``root``.
        out_dir (str): the zoo's output folder.
        data_root (str): the generated Texture-MNIST dataset.
        bias_classes (Sequence[int]): class indices of the biased digits.
        seed (int): training seed (``randomness.seed``; deterministic algorithms on).
        iters (int, optional): training iterations; default the config's.
        batch_size (int, optional): training batch size; default the config's.
        workers (int, optional): dataloader workers; default the config's.
        root (str): folder that ``config`` is relative to (the repository root).
        progress (bool): progress bars while evaluating.

    Returns:
        dict: ``name``, ``config``, ``iters``, ``checkpoint`` (published file), ``sha256``,
        ``metrics`` (per test set: ``mIoU``, ``aAcc``, ``mAcc``, ``bias_IoU`` = mean IoU of the
        biased digits, all in %), ``train_seconds``, ``settings``.
    """
    settings = dict(config=config, data_root=osp.abspath(data_root), seed=seed, iters=iters,
                    batch_size=batch_size, workers=workers)
    model_dir = osp.join(out_dir, name)
    result_path = osp.join(model_dir, 'result.json')
    if _settings_match(result_path, settings):
        return load_json(result_path)
    options = _overrides(data_root, seed, iters, batch_size, workers)
    cfg = load_config(osp.join(root, config), options, work_dir=osp.join(model_dir, 'work'))
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # evaluated below instead
    max_iters = cfg.train_cfg.max_iters
    # a checkpoint every tenth of the schedule (the last one kept), so an interrupted run resumes
    cfg.default_hooks.checkpoint.update(interval=max(1, max_iters // 10), max_keep_ckpts=1)
    published_path = osp.join(model_dir, 'published.json')
    start = time.perf_counter()
    if _settings_match(published_path, settings):
        published = load_json(published_path)
    else:
        _claim_work_dir(osp.join(model_dir, 'settings.json'), settings)
        train(cfg.copy(), resume=True)
        checkpoint = osp.join(cfg.work_dir, f'iter_{max_iters}.pth')
        path, sha256 = publish_checkpoint(checkpoint, osp.join(out_dir, 'zoo', f'toy_{name}'))
        published = dict(settings=settings, checkpoint=path, sha256=sha256,
                         train_seconds=time.perf_counter() - start)
        dump_json(published, published_path)
    verify_published(published['checkpoint'])
    model = init_segmentor(cfg, published['checkpoint'], device='cpu')
    metrics = {}
    for split, _ in TEST_SETS:
        loader = cfg.test_dataloader.copy()
        loader['dataset'] = dict(loader['dataset'], split=split)
        print_log(f'toy zoo: evaluating {name} on {split}', logger='current')
        scores = evaluate(model, dataloader=loader, progress=progress)
        classes = model.dataset_meta['classes']
        bias_iou = [float(scores[f'IoU.{classes[c]}']) for c in bias_classes]
        metrics[split] = {key: round(float(value), 2) for key, value in (
            ('mIoU', scores['mIoU']), ('aAcc', scores['aAcc']), ('mAcc', scores['mAcc']),
            ('bias_IoU', sum(bias_iou) / len(bias_iou)))}
    result = dict(name=name, config=config, iters=max_iters, checkpoint=published['checkpoint'],
                  sha256=published['sha256'], metrics=metrics,
                  train_seconds=published['train_seconds'], settings=settings)
    dump_json(result, result_path)
    return result


def reproduce_toy_zoo(out_dir, models=TOY_MODELS, data=None, seed=0, iters=None, batch_size=None,
                      workers=None, root='.', progress=True, command=None):
    """Generate the toy data, then train, publish and evaluate every model of ``models``.

    Args:
        out_dir (str): output folder: ``data/`` (the dataset), ``<name>/`` (work dir and stage
            files), ``zoo/`` (published checkpoints), ``results.{json,csv,md}``.
        models (Sequence[tuple[str, str]]): (name, config) pairs; default :data:`TOY_MODELS`.
        data (dict, optional): :func:`~mmseg_bias.toy.generate_texture_mnist` arguments; default
            :data:`TOY_DATA` (digit 3 strongly biased to one texture; 5000 / 500 images).
        seed (int): training seed of every model.
        iters, batch_size, workers: schedule overrides (default: each config's own).
        root (str): folder the configs' paths are relative to (the repository root).
        progress (bool): progress bars while generating data and evaluating.
        command (str, optional): the command line that ran this, for the results table.

    Returns:
        dict: ``rows`` (one :func:`train_toy_model` result per model), ``data`` (the dataset
        parameters), ``seed``, ``seconds`` (wall time of this call; a resumed run counts only
        what it did), ``torch``, ``device``, ``command``.
    """
    start = time.perf_counter()
    data = dict(TOY_DATA if data is None else data)
    data_root = osp.join(out_dir, 'data')
    meta = generate_texture_mnist(data_root, progress=progress, **data)
    bias_classes = [digit_class(d) for d in meta['params']['bias']]
    if not bias_classes:
        raise ValueError('the toy zoo measures a planted bias: give data a bias, e.g. '
                         "bias='3:checker_8'")
    rows = [train_toy_model(name, config, out_dir, data_root, bias_classes, seed, iters,
                            batch_size, workers, root, progress) for name, config in models]
    results = dict(rows=rows, data=meta['params'], seed=seed,
                   seconds=time.perf_counter() - start, torch=str(torch.__version__),
                   device='cpu', command=command or 'mmseg_bias.zoo.toy_zoo.reproduce_toy_zoo')
    dump_json(results, osp.join(out_dir, 'results.json'))
    header, table = _table_rows(results)
    dump_csv(table, osp.join(out_dir, 'results.csv'), header=header)
    with atomic_open(osp.join(out_dir, 'results.md')) as f:
        f.write(results_table(results))
    return results


def _table_rows(results, weights_root=None):
    header = ['model', 'config', 'iterations', 'mIoU (unbiased test)', 'mIoU (biased test)',
              'biased-digit IoU (unbiased test)', 'biased-digit IoU (biased test)',
              'training (min)', 'checkpoint']
    rows = []
    for row in results['rows']:
        m = row['metrics']
        checkpoint = row['checkpoint']
        if weights_root is not None:
            checkpoint = osp.relpath(checkpoint, weights_root)
        rows.append([row['name'], row['config'], row['iters'], f'{m["test"]["mIoU"]:.2f}',
                     f'{m["test_biased"]["mIoU"]:.2f}', f'{m["test"]["bias_IoU"]:.2f}',
                     f'{m["test_biased"]["bias_IoU"]:.2f}', f'{row["train_seconds"] / 60:.1f}',
                     checkpoint])
    return header, rows


def results_table(results, weights_root=None):
    """The toy zoo's results as markdown: a settings line and one table row per model (IoU in %).

    Args:
        results (dict): as returned by :func:`reproduce_toy_zoo`.
        weights_root (str, optional): write checkpoint paths relative to this folder.
    """
    header, rows = _table_rows(results, weights_root)
    data = results['data']
    bias = ', '.join(f'digit {d} -> {t}' for d, t in data['bias'].items())
    lines = [
        f'Measured by `{results["command"]}` (seed {results["seed"]}, {results["device"]}, '
        f'torch {results["torch"]}, {results["seconds"] / 60:.1f} min in all): '
        f'{data["num_train"]} training / {data["num_test"]} test images, {data["strength"]} bias '
        f'({bias}). IoU in %.',
        '',
        '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header),
    ]
    for row in rows:
        cells = [str(c) for c in row]
        cells[1], cells[-1] = f'`{cells[1]}`', f'`{cells[-1]}`'
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def rewrite_marked_section(path, text, markers=RESULTS_MARKERS):
    """Replace what lies between the two ``markers`` lines of ``path`` by ``text`` (atomically)."""
    with open(path) as f:
        content = f.read()
    begin, end = markers
    if content.count(begin) != 1 or content.count(end) != 1 or \
            content.index(begin) > content.index(end):
        raise ValueError(f'{path} must hold the lines {begin} and {end} once each, in that order; '
                         'the generated table goes between them')
    head, rest = content.split(begin)
    _, tail = rest.split(end)
    with atomic_open(path) as f:
        f.write(f'{head}{begin}\n{text.rstrip()}\n{end}{tail}')


def update_toy_docs(results, readme, metafile, root):
    """Write the measured toy-zoo results into ``readme`` (between :data:`RESULTS_MARKERS`) and
    into ``metafile`` (each model's ``Metrics`` on both test sets, its ``Weights``, its
    ``Training Data`` and its ``Iterations`` / ``Batch Size`` with the zoo's overrides of its
    config in ``cfg-options``).

    Args:
        results (dict): as returned by :func:`reproduce_toy_zoo`.
        readme (str): ``configs/toy/README.md``.
        metafile (str): ``configs/toy/metafile.yaml``; models are found by their config's name.
        root (str): repository root; checkpoint paths are recorded relative to it and must lie
            inside it.
    """
    for row in results['rows']:
        rel = osp.relpath(row['checkpoint'], root)
        if rel.startswith('..'):
            raise ValueError(f'{row["checkpoint"]} lies outside the repository {root}; write the '
                             'zoo under it (e.g. --out work_dirs/toy_zoo) to record its weights')
    rewrite_marked_section(readme, results_table(results, weights_root=root))
    data = results['data']
    training_data = (f'Texture-MNIST, {data["num_train"]} images, {data["strength"]} bias ' +
                     ', '.join(f'digit {d} -> {t}' for d, t in data['bias'].items()))
    for row in results['rows']:
        name = osp.splitext(osp.basename(row['config']))[0]
        weights = osp.relpath(row['checkpoint'], root).replace(osp.sep, '/')
        settings = row['settings']
        options = {'randomness.seed': settings['seed'], 'randomness.deterministic': True,
                   'train_cfg.max_iters': row['iters']}
        if settings['batch_size'] is not None:
            options['train_dataloader.batch_size'] = settings['batch_size']
        cfg = Config.fromfile(osp.join(root, row['config']))
        cfg.merge_from_dict(options)
        metadata = {'Training Data': training_data, 'Iterations': row['iters'],
                    'Batch Size': cfg.train_dataloader.batch_size, 'cfg-options': options}
        for split, dataset in TEST_SETS:
            metrics = row['metrics'][split]
            update_model_results(metafile, name, f'Texture-MNIST {dataset}',
                                 {'mIoU': round(metrics['mIoU'], 2),
                                  'biased-digit IoU': round(metrics['bias_IoU'], 2)}, weights,
                                 metadata)
