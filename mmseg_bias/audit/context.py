"""What an audit works on: the models, the options, and the shared, cached stages.

:class:`Audit` loads each model once (its evaluation split set as the test dataloader, so every
library function that reads ``model.cfg.test_dataloader`` uses it), and runs the stages several
sections need — class frequency and the clean evaluation with logit statistics — once, cached.
"""
import copy
import hashlib
import os.path as osp
from dataclasses import asdict, dataclass, field

from mmseg_bias.analysis.bias_vulnerability import SCORES
from mmseg_bias.analysis.class_frequency import (MEASURES, class_frequency, dataset_metainfo,
                                                 load_analysis_config, save_class_frequency)
from mmseg_bias.apis import init_segmentor
from mmseg_bias.datasets.transforms.class_erasure import ClassErasure
from mmseg_bias.datasets.transforms.corruption import resolve_corruptions
from mmseg_bias.evaluation.evaluate import evaluate_conditions
from mmseg_bias.visualization.bias_figures import plot_class_frequency

from .cache import StageCache

__all__ = ['AuditModel', 'AuditOptions', 'Audit', 'REDUCED_CORRUPTIONS', 'REDUCED_SEVERITIES',
           'SPLITS']

# The default corruption set: one fast corruption per ImageNet-C category, 3 severities (12
# conditions + clean). ``--full`` runs the 15 benchmark corruptions x severities 1-5 (75).
REDUCED_CORRUPTIONS = ('gaussian_noise', 'defocus_blur', 'fog', 'contrast')
REDUCED_SEVERITIES = (1, 3, 5)
SPLITS = ('test', 'val', 'train')


@dataclass
class AuditModel:
    """One audited model: a display name, an MMSeg config file and a checkpoint."""
    name: str
    config: str
    checkpoint: str


@dataclass
class AuditOptions:
    """Options of the audit; each analysis keeps its paper's default.

    Evaluation: ``split`` (the config's test/val/train dataloader the models are evaluated on;
    train uses the test pipeline), ``max_images`` (first N images only), ``device``,
    ``cfg_options`` (merged into every config).
    Class frequency (DropClass supp. §C): ``frequency_split`` ('train', the paper's), ``by``
    ('pixel' for Cityscapes in the paper, 'instance' for VOC), ``num_rare`` (classes in mIoU†;
    default half).
    Bias vulnerability (supp. §B): ``score`` ('drop'), ``erase`` (None = the most influential
    class, 'top' or classes), ``top_k`` (3), ``num_vulnerable`` (9), ``fill`` ('mean'),
    ``fill_value``, ``matrix_classes`` (erased for the influence matrix; default all).
    Robustness (Lehman et al.): ``corruptions`` / ``severities`` (default the reduced set
    :data:`REDUCED_CORRUPTIONS` x :data:`REDUCED_SEVERITIES`; the paper: 15 x 1-5),
    ``corruption_seed``.
    Grid saliency (Hoyer et al.): ``saliency_classes`` (request classes; default the paper's
    seven Cityscapes classes when the dataset has them, else every class but class 0),
    ``saliency_images`` (images explained per model; on a biased Texture-MNIST set half show the
    biased digit), ``saliency_examples`` (overlays shown per model), ``saliency_steps`` (SGD
    steps, 100 in the paper), ``gradient_samples`` (IG steps and SmoothGrad samples, 25 in the
    paper), ``min_request_size`` (pixels of a request after erosion; default the paper's 10k of
    1024x2048 Cityscapes pixels scaled to the image area), ``saliency_source`` (requests from
    the model's prediction, 'pred' as in the paper, or from the ground truth, 'gt').
    """
    split: str = 'test'
    max_images: int = None
    device: str = 'cpu'
    cfg_options: dict = None
    frequency_split: str = 'train'
    by: str = 'pixel'
    num_rare: int = None
    score: str = 'drop'
    erase: object = None
    top_k: int = 3
    num_vulnerable: int = 9
    fill: str = 'mean'
    fill_value: list = None
    matrix_classes: list = None
    corruptions: list = field(default_factory=lambda: list(REDUCED_CORRUPTIONS))
    severities: list = field(default_factory=lambda: list(REDUCED_SEVERITIES))
    corruption_seed: int = 0
    saliency_classes: list = None
    saliency_images: int = 8
    saliency_examples: int = 3
    saliency_steps: int = 100
    gradient_samples: int = 25
    min_request_size: int = None
    saliency_source: str = 'pred'

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f'dataset split must be one of {SPLITS}, got {self.split!r}')
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f'max_images must be at least 1, got {self.max_images}')
        for key in ('saliency_images', 'saliency_steps', 'gradient_samples', 'top_k'):
            if getattr(self, key) < 1:
                raise ValueError(f'{key} must be at least 1, got {getattr(self, key)}')
        if self.saliency_source not in ('pred', 'gt'):
            raise ValueError(f"saliency_source must be 'pred' or 'gt', got "
                             f'{self.saliency_source!r}')
        if self.by not in MEASURES:
            raise ValueError(f'frequency measure must be one of {MEASURES}, got {self.by!r}')
        if self.score not in SCORES:
            raise ValueError(f'influence score must be one of {SCORES}, got {self.score!r}')
        if self.fill not in ClassErasure.FILLS:
            raise ValueError(f'fill must be one of {ClassErasure.FILLS}, got {self.fill!r}')
        self.corruptions = resolve_corruptions(self.corruptions)
        if any(s not in range(1, 6) for s in self.severities):
            raise ValueError(f'severities must lie in 1-5 (clean is always evaluated), got '
                             f'{list(self.severities)}')

    def as_dict(self):
        return asdict(self)


def _file_sha1(path):
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _evaluation_loader(cfg, split, max_images):
    """The dataloader config the audit evaluates on: ``<split>_dataloader`` (train: its dataset
    with the test pipeline and test batch size), optionally cut to the first ``max_images``."""
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise KeyError(f'the config has no {key}; choose a --dataset-split among test/val/train '
                       'that it defines')
    loader = copy.deepcopy(cfg[key])
    if split == 'train':
        if {'dataset', 'datasets'} & set(loader.dataset):
            raise ValueError('--dataset-split train needs a plain (unwrapped) train dataset; '
                             'this config wraps it (RepeatDataset/ConcatDataset)')
        test_loader = copy.deepcopy(cfg.test_dataloader)
        test_loader.dataset = dict(loader.dataset, pipeline=test_loader.dataset.pipeline)
        loader = test_loader
    if max_images:
        if {'dataset', 'datasets'} & set(loader.dataset):
            raise ValueError('--max-images needs a plain evaluation dataset; this config wraps '
                             'it (RepeatDataset/ConcatDataset)')
        loader.dataset['indices'] = int(max_images)
    return loader


class Audit:
    """The models and options of one audit, its stage cache, and the shared stages.

    Args:
        models (Sequence[AuditModel]): audited models, in display order (the first is the
            reference of every comparison and gives the dataset).
        work_dir (str): stages are cached in ``work_dir/stages``, combined figures go to
            ``work_dir/sections``.
        options (AuditOptions, optional): audit options.
    """

    def __init__(self, models, work_dir, options=None):
        models = list(models)
        if not models:
            raise ValueError('an audit needs at least one model (CONFIG CHECKPOINT)')
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(f'model names must be distinct, got {names}; pass --names')
        for m in models:
            if not osp.isfile(m.config) and '::' not in str(m.config):
                raise FileNotFoundError(f'config {m.config!r} of model {m.name!r} does not exist')
            if not osp.isfile(m.checkpoint):
                raise FileNotFoundError(f'checkpoint {m.checkpoint!r} of model {m.name!r} does '
                                        'not exist')
        self.models = {m.name: m for m in models}
        self.names = names
        self.reference = names[0]
        self.work_dir = work_dir
        self.options = options or AuditOptions()
        self.cache = StageCache(osp.join(work_dir, 'stages'))
        self._configs, self._segmentors, self._meta, self._shared = {}, {}, None, {}

    def config(self, name):
        """The model's Config, custom imports done, with the evaluation split as test loader."""
        if name not in self._configs:
            cfg = load_analysis_config(self.models[name].config, self.options.cfg_options)
            cfg.test_dataloader = _evaluation_loader(cfg, self.options.split,
                                                     self.options.max_images)
            self._configs[name] = cfg
        return self._configs[name]

    def segmentor(self, name):
        """The model in eval mode (loaded once)."""
        if name not in self._segmentors:
            self._segmentors[name] = init_segmentor(self.config(name), self.models[name].checkpoint,
                                                    device=self.options.device)
        return self._segmentors[name]

    def shared(self, key, build):
        """``build()``, computed once per audit under ``key`` (in memory: what several sections
        use, e.g. the images they explain)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    @property
    def metainfo(self):
        """Metainfo (classes, palette) of the evaluation dataset; every model must share its
        classes."""
        if self._meta is None:
            metas = {n: dataset_metainfo(self.config(n), 'test') for n in self.names}
            ref = tuple(metas[self.reference]['classes'])
            for name, meta in metas.items():
                if tuple(meta['classes']) != ref:
                    raise ValueError(f'model {name!r} is evaluated on classes '
                                     f'{tuple(meta["classes"])}, but {self.reference!r} on {ref}; '
                                     'audit models of the same dataset together')
            self._meta = metas[self.reference]
        return self._meta

    @property
    def classes(self):
        return list(self.metainfo['classes'])

    def fingerprint(self, name):
        """What a model's results depend on: config and checkpoint identity, evaluation data."""
        m, o = self.models[name], self.options
        config = osp.abspath(m.config) if osp.isfile(m.config) else m.config
        return dict(name=name, config=config,
                    config_sha1=_file_sha1(m.config) if osp.isfile(m.config) else None,
                    checkpoint=osp.abspath(m.checkpoint), checkpoint_size=osp.getsize(m.checkpoint),
                    checkpoint_mtime=osp.getmtime(m.checkpoint), cfg_options=o.cfg_options,
                    split=o.split, max_images=o.max_images)

    def section_dir(self, key):
        """Folder of a section's combined (all-model) figures and tables."""
        return osp.join(self.work_dir, 'sections', key)

    def frequency(self):
        """Class frequency of the reference config's ``frequency_split`` (cached)."""
        o = self.options
        ref = self.fingerprint(self.reference)
        settings = dict(config=ref['config'], config_sha1=ref['config_sha1'],
                        cfg_options=o.cfg_options, split=o.frequency_split, by=o.by)

        def compute(folder):
            freq = class_frequency(self.config(self.reference), split=o.frequency_split)
            save_class_frequency(freq, folder, by=o.by)
            plot_class_frequency(freq, osp.join(folder, 'class_frequency.png'), by=o.by)
            return freq
        return self.cache.run('frequency', settings, compute)

    def clean_metrics(self, name):
        """IoU metrics (``mIoU``, ``IoU.<class>``, %) and logit statistics (``logit/...``, with
        covariances, as ``evaluate_logit_structure``) of the model on the clean evaluation split
        (cached)."""
        def compute(folder):
            (_, metrics), = evaluate_conditions(
                self.segmentor(name), [[]], log_tables=False,
                extra_metrics=[dict(type='LogitStructureMetric', with_covariance=True)])
            return metrics
        return self.cache.run('evaluate', self.fingerprint(name), compute, model=name)
