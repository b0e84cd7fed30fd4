"""The corruption robustness benchmark: arithmetic, result files, resume, CLI and comparison."""
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest

from helpers import run_cli
from mmseg_bias.apis import evaluate, init_segmentor
from mmseg_bias.evaluation.evaluate import evaluate_conditions
from mmseg_bias.evaluation.robustness import benchmark_conditions, run_robustness, summarize
from mmseg_bias.utils import dump_json, load_json

CORRUPTIONS = ['gaussian_noise', 'contrast']
SEVERITIES = [0, 1, 2]


def test_summary_arithmetic():
    results = {'clean': {'mIoU': 80.0}, 'gaussian_noise-1': {'mIoU': 60.0},
               'gaussian_noise-2': {'mIoU': 40.0}, 'fog-1': {'mIoU': 70.0},
               'saturate-1': {'mIoU': 10.0}}  # an extra corruption: not in mPC
    s = summarize(results)
    assert s['P'] == 80.0
    assert s['mPC'] == pytest.approx((60 + 40 + 70) / 3)
    assert s['rPC'] == pytest.approx(s['mPC'] / 80.0)
    assert s['per_category'] == {'noise': 50.0, 'weather': 70.0, 'extra': 10.0}
    assert s['per_corruption']['gaussian_noise'] == 50.0
    assert summarize({'fog-3': {'mIoU': 5.0}})['rPC'] is None


def test_conditions():
    assert benchmark_conditions(['fog'], [2, 0, 1]) == [('clean', 0), ('fog', 1), ('fog', 2)]
    with pytest.raises(ValueError, match='0-5'):
        benchmark_conditions(['fog'], [6])


@pytest.fixture(scope='module')
def tiny_model(tiny_config, trained_checkpoint):
    return init_segmentor(tiny_config, trained_checkpoint[1])


def _sweep(model, out, **kwargs):
    return run_robustness(model, out, CORRUPTIONS, SEVERITIES, progress=False, **kwargs)


def test_one_pass_equals_separate_evaluations(tiny_model):
    conditions = [[], [dict(type='ImageCorruption', corruption='fog', severity=2)]]
    together = dict(evaluate_conditions(tiny_model, conditions, progress=False))
    for i, transforms in enumerate(conditions):
        alone = evaluate(tiny_model, transforms, progress=False)
        assert together[i] == pytest.approx(alone, nan_ok=True)
    assert together[0]['mIoU'] != together[1]['mIoU']


def test_results_files_and_resume_after_a_kill(tmp_path, tiny_model, monkeypatch):
    full = str(tmp_path / 'full')
    reference = _sweep(tiny_model, full)
    files = sorted(os.listdir(osp.join(full, 'conditions')))
    assert files == ['clean.json', 'contrast-1.json', 'contrast-2.json', 'gaussian_noise-1.json',
                     'gaussian_noise-2.json']
    clean = load_json(osp.join(full, 'conditions', 'clean.json'))
    assert {'mIoU', 'aAcc', 'mAcc'} <= set(clean) and any(k.startswith('IoU.') for k in clean)
    corrupted = [load_json(osp.join(full, 'conditions', f))['mIoU'] for f in files[1:]]
    assert reference['mPC'] == pytest.approx(sum(corrupted) / 4)
    assert reference['rPC'] == pytest.approx(reference['mPC'] / clean['mIoU'])
    assert load_json(osp.join(full, 'summary.json'))['mPC'] == pytest.approx(reference['mPC'])

    from mmseg_bias.evaluation import robustness
    written = []

    def dies_after_two(obj, path):
        if len(written) == 2:
            raise KeyboardInterrupt  # simulated kill
        written.append(path)
        dump_json(obj, path)

    part = str(tmp_path / 'part')
    monkeypatch.setattr(robustness, 'dump_json', dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tiny_model, part)
    assert len(os.listdir(osp.join(part, 'conditions'))) == 2
    assert not any(f.endswith('.tmp') for f in os.listdir(osp.join(part, 'conditions')))
    monkeypatch.setattr(robustness, 'dump_json', dump_json)
    with pytest.raises(FileExistsError, match='--resume'):
        _sweep(tiny_model, part)
    evaluated = []
    original = robustness.evaluate_conditions

    def counting(model, conditions, *args, **kwargs):
        evaluated.extend(conditions)
        return original(model, conditions, *args, **kwargs)

    monkeypatch.setattr(robustness, 'evaluate_conditions', counting)
    resumed = _sweep(tiny_model, part, resume=True)
    assert len(evaluated) == 3, 'finished conditions must be skipped'
    assert resumed == reference


def test_cli_and_comparison(tmp_path, tiny_config, trained_checkpoint):
    out = str(tmp_path / 'rob')
    printed = run_cli([sys.executable, 'tools/test_robustness.py', tiny_config, trained_checkpoint[1],
                       '--out', out, '--corruptions', 'fog,pixelate', '--severities', '0', '1',
                       '--gallery', '--logit-structure'])
    assert 'mPC' in printed and 'rPC' in printed
    for name in ('summary.json', 'results.csv', 'miou_vs_severity.png', 'gallery.png',
                 'distance_vs_miou.png'):
        assert osp.isfile(osp.join(out, name)), name
    fog = load_json(osp.join(out, 'conditions', 'fog-1.json'))
    assert isinstance(fog['logit/distance'], float) and len(fog['logit/centroids']) == 19
    out2 = str(tmp_path / 'rob2')
    run_cli([sys.executable, 'tools/test_robustness.py', tiny_config, trained_checkpoint[1],
             '--out', out2, '--corruptions', 'fog', '--severities', '0', '2', '--after-resize'])
    figs = str(tmp_path / 'cmp')
    printed = run_cli([sys.executable, 'tools/robustness/compare.py', out, out2,
                       '--labels', 'a', 'b', '--out', figs])
    assert 'a: P' in printed and 'b: P' in printed
    assert osp.isfile(osp.join(figs, 'comparison.png'))
    assert osp.isfile(osp.join(figs, 'miou_vs_severity.png'))
    assert set(load_json(osp.join(figs, 'comparison.json'))) == {'a', 'b'}


def test_validation_hook_logs_corrupted_miou_and_mpc(tmp_path, tiny_config):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(tiny_config)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'robust_val_{tmp_path.name}'
    cfg.custom_hooks = [dict(type='RobustnessValHook',
                             conditions=[('gaussian_noise', 2), ('contrast', 1)])]
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    noise = hub.get_scalar('val/gaussian_noise-2/mIoU').current()
    contrast = hub.get_scalar('val/contrast-1/mIoU').current()
    assert hub.get_scalar('val/mPC').current() == pytest.approx((noise + contrast) / 2)
    assert 'val/mIoU' in hub.log_scalars  # the clean validation is still there
    with pytest.raises(ValueError, match='unknown corruption'):
        from mmseg_bias.engine.hooks import RobustnessValHook
        RobustnessValHook(conditions=[('rain', 1)])


def test_two_processes_give_the_single_process_results(tmp_path, tiny_config, trained_checkpoint):
    args = [tiny_config, trained_checkpoint[1], '--corruptions', 'fog', '--severities', '0', '1']
    alone, shared = str(tmp_path / 'alone'), str(tmp_path / 'shared')
    run_cli([sys.executable, 'tools/test_robustness.py', *args, '--out', alone])
    run_cli([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
             '--master_port', '29523', 'tools/test_robustness.py', *args, '--out', shared,
             '--launcher', 'pytorch'], env={'CUDA_VISIBLE_DEVICES': ''})
    for key in ('clean', 'fog-1'):
        one = load_json(osp.join(alone, 'conditions', f'{key}.json'))
        two = load_json(osp.join(shared, 'conditions', f'{key}.json'))
        assert two == pytest.approx(one, nan_ok=True), key


def test_corruption_cache_gives_identical_results(tmp_path, tiny_config, tiny_model):
    from mmengine.config import Config

    from mmseg_bias.datasets.corruption_cache import build_corruption_cache, dataset_image_paths
    paths = dataset_image_paths(Config.fromfile(tiny_config).test_dataloader.dataset)
    assert len(paths) == 2
    cache = str(tmp_path / 'cache')
    assert build_corruption_cache(paths, ['glass_blur', 'fog'], [2], cache, workers=2) == 4
    assert build_corruption_cache(paths, ['glass_blur', 'fog'], [2], cache, workers=0) == 0
    computed = run_robustness(tiny_model, str(tmp_path / 'a'), ['glass_blur', 'fog'], [2],
                              progress=False)
    calls = []

    def no_compute(img, img_path=''):
        calls.append(img_path)
        raise AssertionError('a cached image was recomputed')

    from mmseg_bias.datasets.transforms import ImageCorruption
    original = ImageCorruption.corrupt
    ImageCorruption.corrupt = no_compute
    try:
        cached = run_robustness(tiny_model, str(tmp_path / 'b'), ['glass_blur', 'fog'], [2],
                                progress=False, cache_root=cache)
    finally:
        ImageCorruption.corrupt = original
    assert cached == computed and not calls
    printed = run_cli([sys.executable, 'tools/robustness/cache_corruptions.py', tiny_config,
                       '--out', cache, '--corruptions', 'glass_blur,zoom_blur', '--severities', '2'])
    assert 'cached 2 new images' in printed  # glass_blur-2 was cached above, zoom_blur-2 is new


def test_corruption_demo_video(tmp_path, tiny_config, trained_checkpoint, cityscapes_root):
    import cv2

    from mmseg_bias.visualization.video import corruption_schedule, write_video
    assert [c for c, _ in corruption_schedule(6, ['fog', 'contrast'], 3)] == \
        [None, None, 'fog', 'fog', 'contrast', 'contrast']
    frames_dir = osp.join(cityscapes_root, 'leftImg8bit', 'train', 'tinycity')
    ckpt = trained_checkpoint[1]
    out = str(tmp_path / 'demo.mp4')
    printed = run_cli([sys.executable, 'tools/robustness/demo_video.py', frames_dir, '--models',
                       tiny_config, ckpt, tiny_config, ckpt, '--labels', 'a', 'b',
                       '--corruptions', 'fog', '--out', out])
    written = re.search(r'wrote (\S+) \(4 frames\)', printed).group(1)
    assert written in (out, str(tmp_path / 'demo.gif')) and osp.isfile(written)
    if written.endswith('.mp4'):
        capture = cv2.VideoCapture(written)
        ok, frame = capture.read()
        assert ok and frame.shape == (64, 3 * 128, 3)  # input | model a | model b
    gif = write_video([np.zeros((8, 8, 3), np.uint8)] * 2, str(tmp_path / 'x.avi-none'), fps=2)
    assert osp.isfile(gif)
