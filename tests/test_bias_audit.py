"""The bias audit: a tiny audit with every section, the stage cache, --sections, the report in
headless Chromium (no console errors; a screenshot is kept as a test artefact)."""
import base64
import json
import os
import os.path as osp
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from html import escape

import numpy as np
import pytest
import torch

from helpers import REPO, load_tool, run_cli
from mmseg_bias.audit import SECTIONS, AuditOptions, run_audit
from mmseg_bias.audit.cache import StageCache
from mmseg_bias.audit.toy import DemoSettings, prepare_demo
from mmseg_bias.utils import load_json, save_figure
from mmseg_bias.visualization.report import render_report

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars', '--mute-audio']
ARTEFACTS = os.environ.get('TEST_ARTIFACTS_DIR', osp.join(REPO, 'test-artifacts'))
# The tiny audit: 1 corruption x 1 severity, 2 erased classes for the influence matrix
# (background and the biased digit 3), 2 images explained from their ground truth (the 2-iteration
# models predict little) with 3 grid-saliency steps and 2 IG / SmoothGrad samples.
# SCrIBE rather than the default's IBE: the tests also cover the implicit-background similarity
TINY_DEMO = DemoSettings(num_train=24, num_test=8, iters=2, batch_size=4,
                         models=('baseline', 'dropclass', 'scribe'))
TINY_OPTIONS = dict(corruptions=['gaussian_noise'], severities=[1], matrix_classes=[0, 4],
                    saliency_images=2, saliency_examples=1, saliency_steps=3, gradient_samples=2,
                    saliency_source='gt')


class DevTools:
    """Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
    JSON messages separated by NUL bytes, commands on fd 3, replies and events on fd 4)."""

    def __init__(self, binary=CHROMIUM, width=1400, height=1000):
        self.profile = tempfile.mkdtemp(prefix='chromium-profile-')
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds():  # in the child, before exec: fds 3 and 4 are the protocol pipe
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f'--user-data-dir={self.profile}',
             f'--window-size={width},{height}', '--remote-debugging-pipe', 'about:blank'],
            preexec_fn=wire_fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._id, self.events, self.session = b'', 0, [], None
        target = self.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        self.session = self.call('Target.attachToTarget',
                                 {'targetId': target, 'flatten': True})['sessionId']
        for domain in ('Page', 'Runtime', 'Log'):
            self.call(f'{domain}.enable')
        self.call('Emulation.setDeviceMetricsOverride',
                  {'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': False})

    def _next(self, until, timeout=60):
        deadline = time.time() + timeout
        while True:
            while b'\0' in self._buffer:
                raw, self._buffer = self._buffer.split(b'\0', 1)
                message = json.loads(raw)
                self.events.append(message)
                if until(message):
                    return message
            ready, _, _ = select.select([self._from_child], [], [], max(deadline - time.time(), 0))
            if not ready:
                raise TimeoutError('Chromium did not answer in time')
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError('Chromium closed the DevTools pipe')
            self._buffer += chunk

    def call(self, method, params=None):
        self._id += 1
        message = {'id': self._id, 'method': method, 'params': params or {}}
        if self.session:
            message['sessionId'] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b'\0')
        reply = self._next(lambda m, i=self._id: m.get('id') == i)
        if 'error' in reply:
            raise RuntimeError(f'{method}: {reply["error"]}')
        return reply['result']

    def open(self, path):
        """Load a local page and wait for its load event."""
        self.call('Page.navigate', {'url': 'file://' + osp.abspath(path)})
        self._next(lambda m: m.get('method') == 'Page.loadEventFired')

    def evaluate(self, expression):
        return self.call('Runtime.evaluate', {'expression': expression,
                                              'returnByValue': True})['result'].get('value')

    def errors(self):
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for m in self.events:
            method, p = m.get('method'), m.get('params', {})
            if method == 'Runtime.exceptionThrown':
                out.append(p['exceptionDetails'].get('text', 'exception'))
            elif method == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
                out.append(' '.join(str(a.get('value', a.get('description'))) for a in p['args']))
            elif method == 'Log.entryAdded' and p['entry'].get('level') == 'error':
                out.append(p['entry'].get('text', ''))
        return out

    def screenshot(self, path, full_page=True, max_height=16000):
        """Save a PNG of the page (the whole page when ``full_page``, capped at max_height)."""
        params = {'format': 'png'}
        if full_page:
            size = self.call('Page.getLayoutMetrics')['cssContentSize']
            params.update(captureBeyondViewport=True, clip=dict(
                x=0, y=0, width=size['width'], height=min(size['height'], max_height), scale=1))
        data = self.call('Page.captureScreenshot', params)['data']
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope='session')
def chromium():
    """The Chromium binary; installed with apt-get (Debian package ``chromium``) when absent."""
    if not osp.isfile(CHROMIUM):
        install = ['apt-get', 'install', '-y', '--no-install-recommends', 'chromium']
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(['apt-get', 'update'], env=env, capture_output=True)
            proc = subprocess.run(install, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, f'could not install chromium:\n{proc.stderr[-2000:]}'
    return CHROMIUM


def test_devtools_reports_page_errors(chromium, tmp_path):
    """The browser check itself: a page with a console error and an exception is caught."""
    page = tmp_path / 'bad.html'
    page.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("boom");'
                    'missingFunction();</script></body></html>')
    browser = DevTools(chromium)
    try:
        browser.open(page)
        errors = browser.errors()
    finally:
        browser.close()
    assert any('boom' in e for e in errors) and any('Uncaught' in e for e in errors)


def test_stage_cache_reuses_resumes_and_recomputes(tmp_path):
    cache, calls = StageCache(str(tmp_path)), []

    def compute(folder):
        calls.append(folder)
        with open(osp.join(folder, 'part.txt'), 'a') as f:  # partial work a resume keeps
            f.write('x')
        return {'value': np.float64(1.5), 'array': np.arange(3)}

    first = cache.run('stage', {'a': 1}, compute, model='m')
    assert first == {'value': 1.5, 'array': [0, 1, 2]}  # as read back from JSON
    assert cache.run('stage', {'a': 1}, compute, model='m') == first and len(calls) == 1
    assert [r['cached'] for r in cache.records] == [False, True]
    folder = cache.folder('stage', 'm')
    os.remove(osp.join(folder, 'result.json'))  # a crash before the stage finished
    cache.run('stage', {'a': 1}, compute, model='m')
    assert open(osp.join(folder, 'part.txt')).read() == 'xx'  # resumed in the same folder
    cache.run('stage', {'a': 2}, compute, model='m')  # other settings: folder wiped first
    assert open(osp.join(folder, 'part.txt')).read() == 'x' and len(calls) == 3
    assert cache.is_done('stage', {'a': 2}, 'm') and not cache.is_done('stage', {'a': 1}, 'm')


def test_report_is_self_contained_and_escaped(tmp_path):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1])
    png = str(tmp_path / 'fig.png')
    save_figure(fig, png)
    report = dict(title='T <x>', subtitle='s', meta=[('k', 'v & w')],
                  models=[dict(name='a', config='c.py', checkpoint='k.pth')],
                  summary=dict(header=['model', 'mIoU'], rows=[['a', float('nan')]]),
                  sections=[dict(key='one', title='One', description='Shows one thing.',
                                 status='ok', blocks=[dict(kind='image', path=png, caption='cap'),
                                                      dict(kind='image', path='/none.png')],
                                 columns={'a': [dict(kind='table', header=['h'], rows=[[0.123]],
                                                     digits=1)]}),
                            dict(key='two', title='Two', description='d', status='unavailable',
                                 note='needs X')])
    page = tmp_path / 'out' / 'report.html'
    render_report(report, str(page))
    html = page.read_text()
    assert 'T &lt;x&gt;' in html and 'v &amp; w' in html and '<td>0.1</td>' in html
    assert html.count('data:image/png;base64,') == 1 and 'figure missing: none.png' in html
    assert not re.findall(r'(?:src|href)="(?!data:|#)', html)  # no external resources
    assert 'not available' in html and 'needs X' in html and '<td>–</td>' in html
    render_report(report, str(page), embed=False)
    assert 'src="../fig.png"' in page.read_text()


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread: 64x64 single images gain nothing from more, and on a shared CPU
    OpenMP threads that wait for each other make every forward pass several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def toy_audit(tmp_path_factory, one_thread):
    """The default demo, tiny: data, three 2-iteration models, then a full audit (reused)."""
    work = str(tmp_path_factory.mktemp('audit'))
    models, timings = prepare_demo(work, TINY_DEMO)
    result = run_audit(models, work, AuditOptions(**TINY_OPTIONS), title='tiny audit',
                       timings=timings)
    return work, models, result


def test_tiny_audit_has_every_section(toy_audit):
    work, models, result = toy_audit
    assert [m.name for m in models] == ['baseline', 'dropclass', 'scribe']
    assert result['status'] == {key: 'ok' for key in SECTIONS}
    html = open(result['report']).read()
    for key, section in SECTIONS.items():
        assert f'<section id="{key}">' in html and escape(section.description) in html
        for model in ('baseline', 'dropclass', 'scribe'):
            assert f'<h3>{model}</h3>' in html  # side-by-side columns
    assert html.count('data:image/png;base64,') >= 30
    assert 'figure missing' not in html and not re.findall(r'(?:src|href)="(?!data:|#)', html)
    # SCrIBE's classifier has no background row (implicit background): compared on the digits
    assert 'implicit background: the classifier has no background row' in html
    assert result['status']['similarity'] == 'ok' and 'not applicable' not in html
    scribe = load_json(osp.join(work, 'stages', 'similarity', 'scribe', 'result.json'))['result']
    assert sorted(scribe['classes']) == [str(d) for d in range(10)]
    assert 'CBD gap' in html and 'bias check on the unbiased test set' in html
    records = os.listdir(osp.join(work, 'stages', 'explain', 'baseline', 'ig', 'records'))
    assert len(records) == TINY_OPTIONS['saliency_images']
    timings = load_json(osp.join(work, 'timings.json'))
    assert set(timings['stages']) >= {'demo:data', 'demo:train_baseline'} | {
        f'audit:{k}' for k in SECTIONS}


def test_second_run_reuses_the_cache(toy_audit):
    work, models, first = toy_audit
    again, timings = prepare_demo(work, TINY_DEMO)
    assert again == models  # nothing retrained: the same checkpoints
    result = run_audit(again, work, AuditOptions(**TINY_OPTIONS), title='tiny audit')
    assert result['status'] == first['status']
    assert result['cache'] and all(r['cached'] for r in result['cache'])
    stages = {(r['stage'], r['model']) for r in result['cache']}
    assert {('vulnerability', None), ('robustness', 'scribe'), ('saliency', 'dropclass'),
            ('context_bias_ig', 'baseline')} <= stages


def test_sections_limit_the_work_cli(toy_audit, tmp_path):
    _, models, _ = toy_audit
    work = str(tmp_path / 'subset')
    pairs = [p for m in models[:2] for p in (m.config, m.checkpoint)]
    out = run_cli([sys.executable, 'tools/bias_audit.py', *pairs, '--names', 'a', 'b',
                   '--work-dir', work, '--sections', 'iou', 'robustness',
                   '--corruptions', 'gaussian_noise', '--severities', '1'],
                  env=dict(OMP_NUM_THREADS='1'))
    assert 'iou: ok' in out and 'robustness: ok' in out and 'vulnerability' not in out
    assert sorted(os.listdir(osp.join(work, 'stages'))) == ['evaluate', 'frequency', 'robustness']
    html = open(osp.join(work, 'report.html')).read()
    assert '<section id="iou">' in html and '<section id="robustness">' in html
    assert '<section id="vulnerability">' not in html and '<section id="saliency">' not in html


def _cli_main():
    return load_tool('tools/bias_audit.py').main


def test_cli_bad_input(toy_audit, tmp_path, capsys):
    _, models, _ = toy_audit
    main = _cli_main()
    with pytest.raises(SystemExit):
        main([models[0].config])
    assert 'CONFIG CHECKPOINT pairs' in capsys.readouterr().err
    work = tmp_path / 'w'
    with pytest.raises(SystemExit, match=r'^error: checkpoint .*missing\.pth.* does not exist'):
        main([models[0].config, str(tmp_path / 'missing.pth'), '--work-dir', str(work)])
    with pytest.raises(SystemExit, match='unknown corruption'):
        main([models[0].config, models[0].checkpoint, '--corruptions', 'rain',
              '--work-dir', str(work)])
    with pytest.raises(SystemExit, match='^error: saliency_steps must be at least 1, got 0$'):
        main([models[0].config, models[0].checkpoint, '--saliency-steps', '0',
              '--work-dir', str(work)])
    with pytest.raises(SystemExit):
        main([models[0].config, models[0].checkpoint, '--demo-models', 'ibe'])
    assert '--demo-* options size the default demo' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--demo-models', 'baseline', 'unknown'])
    assert "invalid choice: 'unknown'" in capsys.readouterr().err
    assert not work.exists()  # nothing left on disk


def test_report_renders_in_chromium(chromium, toy_audit):
    _, _, result = toy_audit
    browser = DevTools(chromium)
    try:
        browser.open(result['report'])
        images = browser.evaluate('Array.from(document.images).map(i => i.complete && '
                                  'i.naturalWidth > 0)')
        sections = browser.evaluate('document.querySelectorAll("main > section").length')
        shot = browser.screenshot(osp.join(ARTEFACTS, 'bias_audit_report.png'))
        errors = browser.errors()
    finally:
        browser.close()
    assert errors == []
    assert images and all(images)  # every embedded figure decodes
    assert sections == len(SECTIONS) + 1  # the overview and every section
    with open(shot, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
