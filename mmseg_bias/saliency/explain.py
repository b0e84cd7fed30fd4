"""Explain image files or a dataset split of an MMSeg config, one result file set per image.

For every image (through the config's test pipeline): the model's prediction at input resolution,
requests built from the prediction / ground truth / their intersection
(:mod:`mmseg_bias.saliency.requests`), and their saliency maps (:class:`GridSaliency` or
:class:`GradientSaliency`). Per image, ``<out>/maps/<name>.npz`` holds the arrays
(``saliency`` (R, H, W) float32, ``masks`` (R, H, W) bool, ``classes`` / ``gt_classes`` (R,)
(−1: none), ``pred`` and, with annotations, ``gt`` (H, W), ``image`` (H, W, 3) RGB uint8) and
``<out>/records/<name>.json`` the request keys present, the requests made and each request's
diagnostics. The JSON is written last, so a resumed run skips images whose JSON carries the same
settings. Under a distributed launch each rank explains images ``rank::world_size``; rank 0 then
merges every record into ``<out>/diagnostics.json``.
"""
import json
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmengine.dataset import Compose
from mmengine.dist import barrier, get_dist_info
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS

from mmseg_bias.apis import init_launch, init_segmentor
from mmseg_bias.datasets.transforms.class_erasure import resolve_classes
from mmseg_bias.utils import atomic_open, dump_json, load_json

from .gradients import METHODS as GRADIENT_METHODS
from .gradients import GradientSaliency
from .grid import (DEFAULT_PERTURBATIONS, PENALTIES, PERTURBATIONS, UPSAMPLING, GridSaliency,
                   SegmentationLogits, frozen, images_from_inputs)
from .requests import PER, SOURCES, build_requests, paper_min_size, present_keys

__all__ = ['build_explainer', 'image_source', 'explain_images', 'load_record', 'iter_records',
           'merge_records', 'request_key', 'class_names', 'add_explain_arguments',
           'explainer_options', 'prepare_explain', 'run_explain', 'METHODS']

METHODS = ('grid', ) + GRADIENT_METHODS


def build_explainer(model, method='grid', **options):
    """:class:`GridSaliency` ('grid') or :class:`GradientSaliency` ('vg' | 'ig' | 'sg')."""
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    if method == 'grid':
        return GridSaliency(model, **options)
    return GradientSaliency(model, method=method, **options)


def class_names(model):
    """Class names of a segmentor built by ``init_segmentor`` (checkpoint meta or config)."""
    meta = getattr(model, 'dataset_meta', None) or {}
    if meta.get('classes'):
        return list(meta['classes'])
    cfg = getattr(model, 'cfg', None)
    if cfg is not None and cfg.get('test_dataloader'):
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        return list(DATASETS.get(cfg.test_dataloader.dataset.type).METAINFO['classes'])
    raise ValueError('the model carries no class names; build it with init_segmentor')


def image_source(model, split=None, img_paths=None):
    """(names, loader): unique names and ``loader(i) -> dict(inputs, gt or None, img_path)``.

    Args:
        model (nn.Module): a segmentor with its config as ``model.cfg`` (``init_segmentor``).
        split (str, optional): 'train' | 'val' | 'test': ``<split>_dataloader.dataset`` of the
            config, with its pipeline (annotations included).
        img_paths (Sequence[str], optional): image files, loaded with the config's test pipeline
            less its LoadAnnotations step (no ground truth).
    """
    if (split is None) == (img_paths is None):
        raise ValueError('give either a dataset split or image files')
    cfg = model.cfg
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    if split is not None:
        key = f'{split}_dataloader'
        if not cfg.get(key):
            raise KeyError(f'the config has no {key}; choose a split among train/val/test that it has')
        dataset = DATASETS.build(cfg[key]['dataset'])
        if len(dataset) == 0:
            raise ValueError(f'the {split} dataset of the config is empty; check data_root/ann_file')
        paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]

        def load(i):
            item = dataset[i]
            sample = item['data_samples']
            gt = sample.gt_sem_seg.data[0] if 'gt_sem_seg' in sample else None
            return dict(inputs=item['inputs'], gt=gt, img_path=paths[i])
    else:
        missing = [p for p in img_paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'image file {missing[0]!r} does not exist')
        steps = [s for s in cfg.test_dataloader.dataset.pipeline if s['type'] != 'LoadAnnotations']
        pipeline = Compose(steps)
        paths = list(img_paths)

        def load(i):
            return dict(inputs=pipeline(dict(img_path=paths[i]))['inputs'], gt=None,
                        img_path=paths[i])
    names = [f'{i:05d}_{osp.splitext(osp.basename(p))[0]}' for i, p in enumerate(paths)]
    return names, load


def request_key(cls, gt_cls=None):
    """Key of a request's row in the tables: the class, or (gt class, class) in error mode."""
    return int(cls) if gt_cls is None or gt_cls < 0 else (int(gt_cls), int(cls))


def _json_key(key):
    return list(key) if isinstance(key, tuple) else key


def _predict(net, image):
    with torch.no_grad():
        return net(image).argmax(1)[0]


def _rgb(image, swap):
    """(H, W, 3) uint8 for display from a unit image (1, C, H, W)."""
    img = (image[0].clamp(0, 1) * 255).round().byte().cpu()
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    img = img[:3].permute(1, 2, 0).numpy()
    return img[..., ::-1].copy() if swap else img


def explain_images(model, explainer, out_dir, names, load, settings, source='pred',
                   classes=None, per='class', min_size=0, connectivity=8, erosion=3,
                   errors_only=False, ignore_index=255, rank=None, world_size=None,
                   progress=True, on_record=None):
    """Explain this rank's share of the images; write their maps and records (resumable).

    Args:
        model (nn.Module): the segmentor (or module) the explainer explains.
        explainer (GridSaliency | GradientSaliency): built on ``model``.
        out_dir (str): output folder.
        names, load: from :func:`image_source`.
        settings (dict): JSON-able settings stored in every record; a record with other settings
            is recomputed.
        source (str): requests from 'pred', 'gt' or 'intersection' (errors: gt ∩ prediction).
        classes (Sequence[int], optional): request classes (ground-truth classes for
            'intersection'); default all.
        per, min_size, connectivity, erosion, errors_only, ignore_index: request options (see
            :func:`mmseg_bias.saliency.requests.build_requests`).
        rank, world_size (int, optional): shard; default the process group's.
        on_record (callable, optional): ``on_record(name, record)`` after each image (computed or
            found), e.g. to draw overlays; ``record`` is the JSON dict.

    Returns:
        dict: ``computed`` and ``skipped`` image counts of this rank.
    """
    if rank is None or world_size is None:
        rank, world_size = get_dist_info()
    net = SegmentationLogits(model)
    mine = list(range(rank, len(names), world_size))
    bar = ProgressBar(len(mine)) if progress and rank == 0 else None
    done = dict(computed=0, skipped=0)
    for i in mine:
        name = names[i]
        path = osp.join(out_dir, 'records', f'{name}.json')
        if osp.isfile(path) and load_json(path).get('settings') == settings:
            done['skipped'] += 1
        else:
            item = load(i)
            image = images_from_inputs(item['inputs']).to(net.device)
            with frozen(model):
                pred = _predict(net, image)
            gt = item['gt']
            if gt is not None and gt.shape[-2:] != image.shape[-2:]:
                gt = F.interpolate(gt[None, None].float(), size=image.shape[-2:],
                                   mode='nearest')[0, 0].long()
            kwargs = dict(classes=classes, per=per, min_size=min_size, ignore_index=ignore_index,
                          connectivity=connectivity, erosion=erosion, errors_only=errors_only)
            requests = build_requests(source, pred=pred.cpu(), gt=None if gt is None else gt.cpu(),
                                      **kwargs)
            present = present_keys(source, pred=pred.cpu(), gt=None if gt is None else gt.cpu(),
                                   classes=classes, ignore_index=ignore_index,
                                   errors_only=errors_only)
            record = dict(name=name, img_path=item['img_path'], settings=settings,
                          height=int(image.shape[-2]), width=int(image.shape[-1]),
                          present=[_json_key(k) for k in present], requests=[])
            if requests:
                maps, diags = explainer.attribute(image, requests)
                arrays = dict(saliency=maps.numpy().astype(np.float32),
                              masks=np.stack([np.asarray(r.mask, bool) for r in requests]),
                              classes=np.array([r.cls for r in requests], np.int64),
                              gt_classes=np.array([-1 if r.gt_cls is None else r.gt_cls
                                                   for r in requests], np.int64),
                              pred=pred.cpu().numpy().astype(np.int16),
                              image=_rgb(image, net.swap))
                if gt is not None:
                    arrays['gt'] = gt.cpu().numpy().astype(np.int16)
                with atomic_open(osp.join(out_dir, 'maps', f'{name}.npz'), 'wb') as f:
                    np.savez_compressed(f, **arrays)
                record['requests'] = [dict(d, key=_json_key(request_key(d['cls'], d['gt_cls'])))
                                      for d in diags]
            dump_json(record, path)
            done['computed'] += 1
        if on_record is not None:
            on_record(name, load_json(path))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')
    return done


def load_record(out_dir, name, arrays=True):
    """The JSON record of image ``name`` with, if it has requests and ``arrays``, its npz arrays."""
    record = load_json(osp.join(out_dir, 'records', f'{name}.json'))
    npz = osp.join(out_dir, 'maps', f'{name}.npz')
    if arrays and record['requests']:
        with np.load(npz) as data:
            record.update({k: data[k] for k in data.files})
    return record


def iter_records(out_dir, arrays=True, settings=None):
    """Every record in ``out_dir`` (sorted by name), optionally only those with ``settings``."""
    folder = osp.join(out_dir, 'records')
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{out_dir} holds no saliency records; run '
                                'tools/saliency/grid_saliency.py with --out {out_dir} first')
    for fname in sorted(os.listdir(folder)):
        if fname.endswith('.json'):
            record = load_record(out_dir, fname[:-5], arrays)
            if settings is None or record['settings'] == settings:
                yield record


def merge_records(out_dir, settings, names=None):
    """Rank 0 (after a barrier): write ``<out>/diagnostics.json`` with every image's record.

    Returns:
        dict | None: the merged diagnostics on rank 0, None elsewhere.
    """
    rank, world_size = get_dist_info()
    if world_size > 1:
        barrier()
    if rank != 0:
        return None
    records = [r for r in iter_records(out_dir, arrays=False, settings=settings)
               if names is None or r['name'] in set(names)]
    requests = [q for r in records for q in r['requests']]
    merged = dict(settings=settings, num_images=len(records), num_requests=len(requests),
                  num_valid=sum(q['valid'] and not q['empty'] for q in requests),
                  images=[{k: r[k] for k in ('name', 'img_path', 'present', 'requests')}
                          for r in records])
    dump_json(merged, osp.join(out_dir, 'diagnostics.json'))
    return merged


def add_explain_arguments(parser):
    """The options shared by the saliency tools (method, requests, solver), paper defaults."""
    g = parser.add_argument_group('requests')
    g.add_argument('--classes', nargs='+', help='request classes, names or indices (ground-truth '
                   'classes in intersection mode; default: all)')
    g.add_argument('--requests', default='pred', choices=SOURCES, dest='source',
                   help='requests from the prediction (default), the ground truth, or their '
                   'intersection (explains correct and erroneous predictions)')
    g.add_argument('--errors-only', action='store_true',
                   help='intersection mode: only pixels whose prediction differs from the GT')
    g.add_argument('--per', default='class', choices=PER,
                   help='one request per class (default) or per connected component')
    g.add_argument('--min-size', type=int,
                   help='drop components with fewer pixels after the 3x3 erosion (default: the '
                   "paper's 10000 px, 625 px with --requests intersection, of a 1024x2048 "
                   'Cityscapes image, scaled to the first image\'s size; 0 keeps all)')
    g.add_argument('--max-images', type=int, help='explain only the first N images')
    g = parser.add_argument_group('explainer')
    g.add_argument('--method', default='grid', choices=METHODS,
                   help='grid saliency (default) or a gradient baseline: vg, ig, sg')
    g.add_argument('--batch-size', type=int, default=16, help='requests solved together')
    g.add_argument('--grid-size', type=int, nargs='+', default=[4],
                   help='mask grid, one int or H W (paper: 4x4 on 64x64 images; Cityscapes '
                   'value unpublished)')
    g.add_argument('--upsample', default='bilinear', choices=UPSAMPLING,
                   help='mask upsampling (paper: bilinear on Cityscapes, nearest on the toy set)')
    g.add_argument('--perturbation', default='constant', choices=PERTURBATIONS,
                   help='constant grey chosen per request (paper) or blurred image')
    g.add_argument('--perturbation-values', type=float, nargs='+',
                   default=list(DEFAULT_PERTURBATIONS), help='grey levels (paper: 0 .25 .5 .75 1)')
    g.add_argument('--blur-sigma', type=float, default=10.0, help='blur std in px (not in paper)')
    g.add_argument('--lam', type=float, default=0.05, help='λ of ‖M‖₁ (paper: 0.05)')
    g.add_argument('--lr', type=float, default=0.2, help='SGD learning rate (paper: 0.2)')
    g.add_argument('--momentum', type=float, default=0.5, help='SGD momentum (paper: 0.5)')
    g.add_argument('--steps', type=int, default=100, help='SGD steps (paper: 100)')
    g.add_argument('--init', type=float, default=0.5, help='initial mask value (paper: 0.5)')
    g.add_argument('--clip', type=float, default=0.2, help='values <= clip set to 0 each step '
                   '(paper: 0.2)')
    g.add_argument('--no-erode', action='store_true', help='do not erode requests 3x3 for the '
                   'preservation loss (paper erodes)')
    g.add_argument('--plain', action='store_true', help='plain grid saliency: the request may be '
                   'perturbed too (default: context-only, as the paper)')
    g.add_argument('--validity-threshold', type=float, default=0.1,
                   help='valid if the preservation loss is <= this (paper: 0.1)')
    g.add_argument('--penalty', default='sum', choices=PENALTIES,
                   help='‖M‖₁ as sum (default) or mean over grid cells (paper: unstated)')
    g.add_argument('--ig-steps', type=int, default=25, help='IG steps (paper: 25)')
    g.add_argument('--sg-samples', type=int, default=25, help='SmoothGrad samples (paper: 25)')
    g.add_argument('--sg-stdev', type=float, default=0.15,
                   help='SmoothGrad σ as a fraction of (max − min) of the image (paper: 0.15)')
    g = parser.add_argument_group('run')
    g.add_argument('--device', default=None, help='cpu | cuda:0 (default: cuda if available)')
    g.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of CONFIG, key=value (as MMSeg tools)')
    g.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='shard the images over processes (torchrun ... --launcher pytorch)')
    g.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def explainer_options(args):
    """Keyword arguments of :func:`build_explainer` from parsed :func:`add_explain_arguments`."""
    if args.method == 'grid':
        grid = args.grid_size[0] if len(args.grid_size) == 1 else tuple(args.grid_size)
        return dict(grid_size=grid, upsample=args.upsample, perturbation=args.perturbation,
                    perturbation_values=tuple(args.perturbation_values),
                    blur_sigma=args.blur_sigma, lam=args.lam, lr=args.lr, momentum=args.momentum,
                    steps=args.steps, init=args.init, clip=args.clip, erode=not args.no_erode,
                    context_only=not args.plain, validity_threshold=args.validity_threshold,
                    penalty=args.penalty, batch_size=args.batch_size)
    return dict(n_steps=args.ig_steps, nt_samples=args.sg_samples, stdev_frac=args.sg_stdev,
                batch_size=args.batch_size)


def prepare_explain(args):
    """Model, images, explainer and settings for :func:`explain_images` from parsed
    :func:`add_explain_arguments` (plus ``config``, ``checkpoint`` and ``img`` or
    ``dataset_split``); joins the process group of a distributed launch.

    Returns:
        dict: ``model``, ``classes`` (names), ``names`` and ``load`` (the images), ``explainer``,
        ``settings`` and ``requests`` (request options of :func:`explain_images`).

    Raises:
        SystemExit: a one-line error for bad input (missing files, unknown classes, options).
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    try:
        for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
            if '::' not in str(path) and not osp.isfile(path):
                raise FileNotFoundError(f'{what} {path!r} does not exist')
        if getattr(args, 'img', None) and args.source != 'pred':
            raise ValueError(f'--requests {args.source} needs annotations; image files have '
                             'none: use --dataset-split or --requests pred')
        device = init_launch(args.launcher, args.device)
        model = init_segmentor(args.config, args.checkpoint, device=device,
                               cfg_options=args.cfg_options)
        classes = class_names(model)
        wanted = resolve_classes(args.classes, classes) if args.classes else None
        names, load = image_source(model, split=getattr(args, 'dataset_split', None),
                                   img_paths=getattr(args, 'img', None))
        names = names[:args.max_images] if args.max_images else names
        explainer = build_explainer(model, args.method, **explainer_options(args))
        min_size = args.min_size
        if min_size is None:
            min_size = paper_min_size(*load(0)['inputs'].shape[-2:],
                                      errors=args.source == 'intersection')
    except (ValueError, FileNotFoundError, KeyError, IndexError, TypeError) as exc:
        raise SystemExit(f'error: {exc}') from None
    requests = dict(source=args.source, classes=wanted, per=args.per, min_size=min_size,
                    errors_only=args.errors_only)
    settings = dict(requests, method=args.method, options=explainer_options(args),
                    config=str(args.config), cfg_options=args.cfg_options,
                    checkpoint=osp.abspath(args.checkpoint),
                    checkpoint_mtime=osp.getmtime(args.checkpoint))
    settings = json.loads(json.dumps(settings, default=list))
    return dict(model=model, classes=classes, names=names, load=load, explainer=explainer,
                settings=settings, requests=requests)


def run_explain(job, out_dir, on_record=None, progress=True):
    """:func:`explain_images` then :func:`merge_records` for a :func:`prepare_explain` job;
    returns the merged diagnostics on rank 0 (None on other ranks)."""
    explain_images(job['model'], job['explainer'], out_dir, job['names'], job['load'],
                   job['settings'], on_record=on_record, progress=progress, **job['requests'])
    return merge_records(out_dir, job['settings'], job['names'])
