"""Model zoo: publishing checkpoints, loading them back with MMSeg's own API and tools/test.py,
model-index metafiles consistent with the configs, and the toy zoo reproduction."""
import glob
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch

from helpers import REPO, load_tool
from mmseg_bias.compat import UnsafeCheckpointError
from mmseg_bias.zoo import publish_checkpoint, sha256sum, verify_published
from mmseg_bias.zoo.model_index import (check_metafile, check_model_index, load_metafile,
                                        update_model_results)


@pytest.fixture(scope='module')
def published(tmp_path_factory, trained_checkpoint):
    """The tiny trained checkpoint, published once: (source checkpoint, published path, sha256)."""
    _, ckpt = trained_checkpoint
    path, sha256 = publish_checkpoint(ckpt, str(tmp_path_factory.mktemp('zoo') / 'tiny_hr18s'))
    return ckpt, path, sha256


def test_published_file_holds_weights_and_plain_meta_only(published):
    src, path, sha256 = published
    assert re.fullmatch(r'tiny_hr18s-[0-9a-f]{8}\.pth', osp.basename(path))
    assert osp.basename(path) == f'tiny_hr18s-{sha256sum(path)[:8]}.pth' and sha256 == sha256sum(path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # shareable, not mkstemp's 0600
    # loads with torch's plain weights_only=True: no allowlist, no pickled objects
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    assert sorted(checkpoint) == ['meta', 'state_dict']
    original = torch.load(src, map_location='cpu', weights_only=False)
    assert {'optimizer', 'message_hub', 'param_schedulers'} <= set(original)
    assert checkpoint['state_dict'].keys() == original['state_dict'].keys()
    for key, value in original['state_dict'].items():
        assert torch.equal(checkpoint['state_dict'][key], value), key
    meta = checkpoint['meta']
    assert meta['cfg'] == original['meta']['cfg'] and 'HRNet' in meta['cfg']
    assert tuple(meta['dataset_meta']['classes'])[:2] == ('road', 'sidewalk')
    assert len(meta['dataset_meta']['palette']) == 19
    import mmseg
    import mmseg_bias
    assert meta['mmseg_version'] == mmseg.__version__
    assert meta['mmseg_bias_version'] == mmseg_bias.__version__
    assert meta['iter'] == 2
    assert verify_published(path)['cfg'] == meta['cfg']


def test_publish_refuses_to_overwrite_and_leaves_no_temp_files(published):
    src, path, _ = published
    stem = path[:-len('-12345678.pth')]
    with pytest.raises(FileExistsError, match='never overwritten'):
        publish_checkpoint(src, stem + '.pth')  # same content -> same hash -> same name
    assert os.listdir(osp.dirname(path)) == [osp.basename(path)]


def test_publish_rejects_bad_input_with_a_clear_error(tmp_path, trained_checkpoint):
    _, ckpt = trained_checkpoint
    out = str(tmp_path / 'out' / 'model')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        publish_checkpoint(str(tmp_path / 'missing.pth'), out)
    no_meta = str(tmp_path / 'weights_only.pth')
    torch.save({'state_dict': {'w': torch.zeros(2)}}, no_meta)
    with pytest.raises(ValueError, match=r"no meta\['cfg'\]"):
        publish_checkpoint(no_meta, out)
    no_classes = str(tmp_path / 'no_classes.pth')
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {'cfg': 'x = 1', 'dataset_meta': {
        'classes': None}}}, no_classes)
    with pytest.raises(ValueError, match="no 'classes'"):
        publish_checkpoint(no_classes, out)
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {'hook': print}}, unsafe)
    with pytest.raises(UnsafeCheckpointError, match='builtins.print'):
        publish_checkpoint(unsafe, out)
    assert not osp.exists(osp.dirname(out)) or os.listdir(osp.dirname(out)) == []


def test_published_meta_is_plain_and_keeps_label_maps(tmp_path):
    """numpy values become Python values, int-keyed label maps survive, the training run's own
    version records are kept, and the result loads with plain weights_only=True."""
    from mmseg_bias.zoo import published_meta
    meta = published_meta({
        'cfg': 'x = 1', 'seed': np.int64(7), 'mmengine_version': '0.0.1-train',
        'dataset_meta': {'classes': ('a', 'b'), 'palette': np.array([[0, 0, 0], [9, 9, 9]]),
                         'label_map': {np.int64(0): 255, 1: 0}, 'reduce_zero_label': False}})
    assert meta['seed'] == 7 and type(meta['seed']) is int
    assert meta['dataset_meta']['label_map'] == {0: 255, 1: 0}
    assert meta['dataset_meta']['palette'] == [[0, 0, 0], [9, 9, 9]]
    assert meta['mmengine_version'] == '0.0.1-train'
    path = str(tmp_path / 'meta.pth')
    torch.save(meta, path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    with pytest.raises(ValueError, match=r"meta\['hook'\] is a function"):
        published_meta({'cfg': 'x = 1', 'dataset_meta': {'classes': ('a',), 'palette': [[0, 0, 0]]},
                        'hook': lambda: None})


def test_verify_published_detects_changed_or_misnamed_files(tmp_path, published):
    _, path, _ = published
    changed = str(tmp_path / osp.basename(path))
    shutil.copy(path, changed)
    with open(changed, 'r+b') as f:
        f.seek(-100, os.SEEK_END)
        byte = f.read(1)
        f.seek(-100, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match='corrupt or was changed'):
        verify_published(changed)
    renamed = str(tmp_path / 'model.pth')
    shutil.copy(path, renamed)
    with pytest.raises(ValueError, match='is not named'):
        verify_published(renamed)


def test_published_checkpoint_loads_with_mmseg_init_model(tiny_config, published):
    """publish -> mmseg.apis.init_model -> inference gives the training checkpoint's predictions."""
    from mmseg.apis import inference_model, init_model
    src, path, _ = published
    image = np.random.default_rng(0).integers(0, 256, size=(64, 128, 3), dtype=np.uint8)
    model = init_model(tiny_config, path, device='cpu')
    reference = init_model(tiny_config, src, device='cpu')
    assert model.dataset_meta['classes'] == reference.dataset_meta['classes']
    result = inference_model(model, image)
    expected = inference_model(reference, image)
    assert result.pred_sem_seg.data.shape == (1, 64, 128)
    assert torch.allclose(result.seg_logits.data, expected.seg_logits.data)


def test_publish_cli_then_test_cli(tmp_path, capsys, tiny_config, trained_checkpoint):
    """tools/misc/publish_model.py IN OUT, then tools/test.py CONFIG <published file>."""
    from mmseg_bias.utils import load_json
    _, ckpt = trained_checkpoint
    publish_model = load_tool('tools/misc/publish_model.py')
    publish_model.main([ckpt, str(tmp_path / 'tiny.pth')])
    path, digest = capsys.readouterr().out.strip().splitlines()[-2:]
    assert re.fullmatch(re.escape(str(tmp_path / 'tiny-')) + r'[0-9a-f]{8}\.pth', path)
    assert digest == f'sha256 {sha256sum(path)}'
    load_tool('tools/test.py').main([tiny_config, path, '--work-dir', str(tmp_path / 'test')])
    logs = [p for p in glob.glob(str(tmp_path / 'test' / '*' / '*.json'))]
    assert len(logs) == 1 and 0.0 <= load_json(logs[0])['mIoU'] <= 100.0
    # a second publish of the same checkpoint: a one-line error, exit status 2
    with pytest.raises(SystemExit) as exit_info:
        publish_model.main([ckpt, str(tmp_path / 'tiny')])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f': error: {path} already exists and published checkpoints are never overwritten; '
        'delete it or choose another OUT')


# ------------------------------------------------------------------------------------------------
# model index
# ------------------------------------------------------------------------------------------------
def test_model_index_lists_every_config_and_agrees_with_them():
    """Every config outside configs/_base_ (baselines included) is listed, every listed config
    exists, every metafile is imported, fields follow MMSeg's format, iterations and batch sizes
    match the configs."""
    assert check_model_index(REPO) == []


def _measured_rows(readme):
    """config file name -> the cells after its data column, from the README's Measured table."""
    with open(readme) as f:
        section = f.read().split('### Measured', 1)[1].split('\n## ', 1)[0]
    rows = [line.strip().strip('|').split('|') for line in section.splitlines()
            if line.startswith('| `')]
    return {row[0].strip().strip('`'): [c.strip() for c in row[2:]] for row in rows}


@pytest.mark.parametrize('folder', ['dropclass', 'scribe'])
def test_measured_tables_list_every_config_and_hold_no_unmeasured_numbers(folder):
    """The Measured tables of the config READMEs have one row per listed config, and a row holds
    numbers only when the metafile holds measured Metrics (reported numbers are never copied)."""
    measured = _measured_rows(osp.join(REPO, 'configs', folder, 'README.md'))
    models = {osp.basename(m['Config']): m for m in
              load_metafile(osp.join(REPO, 'configs', folder, 'metafile.yaml'))['Models']}
    assert sorted(measured) == sorted(models)
    for config, cells in measured.items():
        results = models[config]['Results']
        if not any(r['Metrics'] for r in (results if isinstance(results, list) else [results])):
            assert cells == [''] * len(cells), f'{config}: numbers in the Measured table, none ' \
                                               'measured in metafile.yaml'


@pytest.fixture
def index_copy(tmp_path):
    """configs/ and model-index.yml copied into a temporary repository root."""
    shutil.copytree(osp.join(REPO, 'configs'), tmp_path / 'configs')
    shutil.copy(osp.join(REPO, 'model-index.yml'), tmp_path / 'model-index.yml')
    return tmp_path


def test_model_index_check_reports_each_kind_of_problem(index_copy):
    root = str(index_copy)
    assert check_model_index(root, against_configs=False) == []
    shutil.copy(index_copy / 'configs/scribe/deeplabv3_r50_voc_ibe.py',
                index_copy / 'configs/scribe/unlisted.py')
    os.remove(index_copy / 'configs/scribe/hrnet_w18_cityscapes_ibe.py')
    metafile = str(index_copy / 'configs/dropclass/metafile.yaml')
    data = load_metafile(metafile)
    del data['Models'][0]['Metadata']['Iterations']
    data['Models'][1]['Results']['Metrics'] = {'mIoU': 70.1}
    data['Models'][2]['Results']['Metrics'] = {'mIoU': 'high'}
    data['Models'][2]['Weights'] = 'work_dirs/model.pth'
    data['Models'][3]['In Collection'] = 'Nope'
    import yaml
    with open(metafile, 'w') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    errors = '\n'.join(check_model_index(root, against_configs=False))
    assert 'configs/scribe/unlisted.py is not listed in any metafile' in errors
    assert 'Config configs/scribe/hrnet_w18_cityscapes_ibe.py does not exist' in errors
    assert "hrnet_w48_cityscapes: Metadata missing 'Iterations'" in errors
    assert 'hrnet_w48_cityscapes_baseline: has measured Metrics but no Weights' in errors
    assert "hrnet_w18_cityscapes: metric 'mIoU' is 'high', not a number" in errors
    assert "Weights 'work_dirs/model.pth' is neither" in errors
    assert "In Collection 'Nope' is not one of the Collections ['DropClass']" in errors
    os.remove(index_copy / 'model-index.yml')
    (index_copy / 'model-index.yml').write_text('Import:\n- configs/scribe/metafile.yaml\n')
    assert 'configs/dropclass/metafile.yaml is not imported by model-index.yml' in '\n'.join(
        check_model_index(root, against_configs=False))


def test_metafile_check_compares_iterations_and_batch_with_the_config(index_copy):
    metafile = str(index_copy / 'configs/scribe/metafile.yaml')
    data = load_metafile(metafile)
    data['Models'] = data['Models'][:1]
    data['Models'][0]['Metadata'].update({'Iterations': 100, 'Training Resources': '8x GPUs'})
    import yaml
    with open(metafile, 'w') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    errors = check_metafile(metafile, str(index_copy))
    assert errors == [
        'configs/scribe/metafile.yaml: deeplabv3_r50_voc_softmax: Iterations 100 but the config '
        'trains 22150 (train_cfg.max_iters)',
        'configs/scribe/metafile.yaml: deeplabv3_r50_voc_softmax: Batch Size 16 but the config '
        'trains 8 x 4 = 32']


def test_update_model_results_sets_metrics_and_weights(index_copy):
    metafile = str(index_copy / 'configs/scribe/metafile.yaml')
    update_model_results(metafile, 'deeplabv3_r50_voc_ibe', 'Pascal VOC 2012 val',
                         {'mIoU': np.float64(71.25)}, 'zoo/deeplabv3_r50_voc_ibe-0123abcd.pth')
    model = {m['Name']: m for m in load_metafile(metafile)['Models']}['deeplabv3_r50_voc_ibe']
    assert model['Results']['Metrics'] == {'mIoU': 71.25}
    assert model['Weights'] == 'zoo/deeplabv3_r50_voc_ibe-0123abcd.pth'
    assert check_metafile(metafile, str(index_copy), against_configs=False) == []
    with pytest.raises(KeyError, match='no model named'):
        update_model_results(metafile, 'nope', 'Pascal VOC 2012 val', {}, 'x-0123abcd.pth')


# ------------------------------------------------------------------------------------------------
# toy zoo
# ------------------------------------------------------------------------------------------------
def test_rewrite_marked_section_replaces_only_the_marked_table(tmp_path):
    from mmseg_bias.zoo.toy_zoo import RESULTS_MARKERS, rewrite_marked_section
    begin, end = RESULTS_MARKERS
    readme = tmp_path / 'README.md'
    readme.write_text(f'# Toy\n\nintro\n\n{begin}\nold table\n{end}\n\nafter\n')
    rewrite_marked_section(str(readme), '| a |\n|---|\n| 1 |\n')
    assert readme.read_text() == f'# Toy\n\nintro\n\n{begin}\n| a |\n|---|\n| 1 |\n{end}\n\nafter\n'
    readme.write_text('# Toy without markers\n')
    with pytest.raises(ValueError, match='must hold the lines'):
        rewrite_marked_section(str(readme), 'x')
    assert readme.read_text() == '# Toy without markers\n'


def test_reproduce_toy_zoo_end_to_end(tmp_path, index_copy, capsys):
    """A tiny run of the CLI (SCrIBE, one iteration): trained, published, evaluated; resumed
    without retraining; the same seed gives the same weights; the README table and the metafile
    written from the run."""
    from mmseg_bias.utils import load_json
    from mmseg_bias.zoo.toy_zoo import (RESULTS_MARKERS, TOY_DATA, TOY_MODELS, reproduce_toy_zoo,
                                        train_toy_model, update_toy_docs)
    out = index_copy / 'work_dirs' / 'toy_zoo'
    options = ['--out', str(out), '--no-docs', '--models', 'scribe', '--iters', '1',
               '--batch-size', '2', '--workers', '0', '--num-train', '6', '--num-test', '3']
    load_tool('tools/misc/reproduce_toy_zoo.py').main(options)
    log = capsys.readouterr().out
    assert '| scribe | `configs/toy/unet_texture_mnist_scribe.py` | 1 |' in log
    assert 'python tools/misc/reproduce_toy_zoo.py --out' in log
    results = load_json(str(out / 'results.json'))
    (row,) = results['rows']
    assert verify_published(row['checkpoint'])['iter'] == 1
    for split in ('test', 'test_biased'):
        assert 0.0 <= row['metrics'][split]['mIoU'] <= 100.0
    published = os.listdir(out / 'zoo')
    assert published == [osp.basename(row['checkpoint'])]

    # resumed: every stage is read back, nothing is trained or published again
    models = [m for m in TOY_MODELS if m[0] == 'scribe']
    again = reproduce_toy_zoo(str(out), models=models, data=dict(TOY_DATA, num_train=6, num_test=3),
                              iters=1, batch_size=2, workers=0, root=REPO, progress=False)
    assert [(r['checkpoint'], r['sha256']) for r in again['rows']] == [
        (row['checkpoint'], row['sha256'])]
    assert os.listdir(out / 'zoo') == published

    # fixed seed: a second training gives the same weights
    twin = train_toy_model(*models[0], str(tmp_path / 'twin'), str(out / 'data'), [4], iters=1,
                           batch_size=2, workers=0, root=REPO, progress=False)
    first = torch.load(row['checkpoint'], weights_only=True)['state_dict']
    second = torch.load(twin['checkpoint'], weights_only=True)['state_dict']
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(ValueError, match='holds a run with other settings'):
        train_toy_model(*models[0], str(tmp_path / 'twin'), str(out / 'data'), [4], iters=2,
                        batch_size=2, workers=0, root=REPO)

    begin, end = RESULTS_MARKERS
    readme = index_copy / 'configs' / 'toy' / 'README.md'
    readme.write_text(f'# Toy\n\n{begin}\n(not measured)\n{end}\n')
    metafile = str(index_copy / 'configs' / 'toy' / 'metafile.yaml')
    update_toy_docs(again, str(readme), metafile, str(index_copy))
    table = readme.read_text()
    assert '(not measured)' not in table
    assert '| scribe | `configs/toy/unet_texture_mnist_scribe.py` | 1 |' in table
    assert '`work_dirs/toy_zoo/zoo/toy_scribe-' in table
    entry = {m['Name']: m for m in load_metafile(metafile)['Models']}['unet_texture_mnist_scribe']
    assert entry['Weights'] == osp.relpath(row['checkpoint'], index_copy)
    assert entry['Metadata']['Iterations'] == 1 and entry['Metadata']['Batch Size'] == 2
    assert entry['Metadata']['Training Data'] == ('Texture-MNIST, 6 images, strong bias '
                                                  'digit 3 -> checker_8')
    assert entry['Results'][0]['Metrics']['mIoU'] == row['metrics']['test']['mIoU']
    assert check_metafile(metafile, str(index_copy)) == []
