"""The audit's default demo: a strongly biased Texture-MNIST set and briefly trained models.

:func:`prepare_demo` generates the data (train split with a planted bias, the unbiased test set
and the biased test set), trains each demo model from its ``configs/toy`` config on the CPU for a
few hundred iterations, and returns the :class:`AuditModel` list to audit. Everything is cached in
the work dir: the dataset is reused when its parameters match, a model whose final checkpoint
exists is not retrained, and an interrupted training resumes from its last checkpoint.
"""
import hashlib
import json
import os.path as osp
import time
from dataclasses import asdict, dataclass

from mmengine.config import Config
from mmengine.logging import print_log

from mmseg_bias.apis import train
from mmseg_bias.utils import atomic_open

from .context import AuditModel

__all__ = ['DemoSettings', 'DEMO_CONFIGS', 'prepare_demo', 'demo_config', 'toy_config_dir']


def toy_config_dir():
    """``configs/toy`` of this source checkout."""
    return osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                    'toy')


# Demo model name -> config file in configs/toy.
DEMO_CONFIGS = {
    'baseline': 'unet_texture_mnist.py',
    'dropclass': 'unet_texture_mnist_dropclass.py',
    'ibe': 'unet_texture_mnist_ibe.py',
    'scribe': 'unet_texture_mnist_scribe.py',
}


@dataclass
class DemoSettings:
    """Size of the demo, chosen for the ``make demo`` target of 10 minutes on 2 CPU cores (the
    paper's scale is 50k training images and 50 epochs: see configs/toy): each model trains
    1300 iterations of 32 images (about 2.5 minutes; benchmarks/demo_time.py measures the whole
    run). IBE is the third model rather than SCrIBE, whose sigmoid training still predicts
    background only after 1000 iterations.

    Attributes:
        bias (str): planted bias, DIGIT:TEXTURE (digit 3 always shows the checkerboard in one
            background half).
        strength (str): 'strong' (the bias texture appears nowhere else) or 'weak'.
        num_train (int): training images generated.
        num_test (int): images of the unbiased (and of the biased) test set.
        iters (int): training iterations per model.
        batch_size (int): training batch size.
        seed (int): data and training seed.
        models (tuple): demo models to train, keys of :data:`DEMO_CONFIGS`; the first is the
            audit's reference.
    """
    bias: str = '3:checker_8'
    strength: str = 'strong'
    num_train: int = 3000
    num_test: int = 100
    iters: int = 1300
    batch_size: int = 32
    seed: int = 0
    models: tuple = ('baseline', 'dropclass', 'ibe')


def _missing_configs(models):
    return [DEMO_CONFIGS[m] for m in models
            if not osp.isfile(osp.join(toy_config_dir(), DEMO_CONFIGS[m]))]


def demo_config(name, data_root, settings, path):
    """Write the training config of demo model ``name`` (its configs/toy config, resized to
    ``settings`` and reading ``data_root``; no validation during training) to ``path``."""
    cfg = Config.fromfile(osp.join(toy_config_dir(), DEMO_CONFIGS[name]))
    iters = settings.iters
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = settings.batch_size
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for scheduler in cfg.param_scheduler:
        if scheduler.get('type') == 'MultiStepLR':  # keep the lr drop at the same share
            base_iters = cfg.max_iters if 'max_iters' in cfg else iters
            scheduler['milestones'] = [round(m * iters / base_iters)
                                       for m in scheduler['milestones']]
    cfg.max_iters = iters
    cfg.default_hooks.checkpoint.update(interval=max(iters // 4, 1), max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(iters // 10, 1)
    cfg.randomness = dict(seed=settings.seed)
    with atomic_open(path) as f:
        f.write(cfg.pretty_text)
    return path


def _tag(params):
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def prepare_demo(work_dir, settings=None):
    """Generate the demo data and train the demo models (cached in ``work_dir``).

    The data folder and each model folder are named after a hash of the settings they depend
    on, so other settings never reuse (or resume from) them.

    Returns:
        tuple[list[AuditModel], dict]: the models (reference first) and the seconds each step
        took (``demo:data``, ``demo:train_<model>``; near 0 when cached).
    """
    from mmseg_bias.toy import generate_texture_mnist
    settings = settings or DemoSettings()
    unknown = [m for m in settings.models if m not in DEMO_CONFIGS]
    if unknown:
        raise ValueError(f'unknown demo model(s) {unknown}; choose among {list(DEMO_CONFIGS)}')
    missing = _missing_configs(settings.models)
    if missing:
        raise FileNotFoundError(f'the demo needs {", ".join(missing)} in {toy_config_dir()}, '
                                'which this checkout does not have yet')
    timings = {}
    data_params = dict(bias=settings.bias, strength=settings.strength,
                       num_train=settings.num_train, num_test=settings.num_test,
                       seed=settings.seed)
    data_root = osp.abspath(osp.join(work_dir, 'data', f'texture_mnist_{_tag(data_params)}'))
    print_log(f'[demo] Texture-MNIST ({settings.num_train} train, {settings.num_test} test, '
              f'bias {settings.bias} {settings.strength}) in {data_root}', logger='current')
    start = time.perf_counter()
    if not osp.isfile(osp.join(data_root, 'meta.json')):  # written last: the set is complete
        generate_texture_mnist(data_root, **data_params)
    timings['demo:data'] = time.perf_counter() - start
    models = []
    train_params = dict(asdict(settings), models=None)
    for name in settings.models:
        model_dir = osp.abspath(osp.join(work_dir, 'models', f'{name}_{_tag(train_params)}'))
        checkpoint = osp.join(model_dir, f'iter_{settings.iters}.pth')
        config = osp.join(model_dir, f'{name}.py')
        start = time.perf_counter()
        if osp.isfile(checkpoint) and osp.isfile(config):
            print_log(f'[demo] {name}: trained model found ({checkpoint})', logger='current')
        else:
            demo_config(name, data_root, settings, config)
            print_log(f'[demo] training {name} for {settings.iters} iterations',
                      logger='current')
            train(config, work_dir=model_dir, resume=True)
        timings[f'demo:train_{name}'] = time.perf_counter() - start
        models.append(AuditModel(name, config, checkpoint))
    return models, timings
