"""Per-stage result cache of the audit: a rerun (or a run after a crash) resumes instead of
recomputing.

A stage is one unit of work, for one model or for the whole audit, in its own folder::

    <root>/<stage>[/<model>]/settings.json   written when the stage starts
    <root>/<stage>[/<model>]/result.json     {settings, result, seconds}, written when it ends
    <root>/<stage>[/<model>]/...             the stage's own files (tables, figures, partial work)

A finished stage is reused when its settings are unchanged. A stage that started with the same
settings but did not finish keeps its folder, so a library function that resumes by itself (the
corruption sweep, the cached erasure evaluations) continues where it stopped; a stage folder made
with other settings is deleted first.
"""
import json
import os.path as osp
import shutil
import time

from mmengine.logging import print_log

from mmseg_bias.utils import dump_json, load_json

__all__ = ['StageCache', 'plain']


def plain(obj):
    """``obj`` as it reads back from JSON (tuples -> lists, numpy -> Python), NaN kept."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, 'tolist')
                                 else str(o)))


def _safe(name):
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in str(name))


class StageCache:
    """Stage folders under ``root``; records which stages ran and which came from the cache.

    Attributes:
        records (list[dict]): one ``{stage, model, cached, seconds}`` per :meth:`run` call.
    """

    def __init__(self, root):
        self.root = root
        self.records = []

    def folder(self, stage, model=None):
        """The folder of ``stage`` (for ``model``)."""
        parts = [self.root, _safe(stage)] + ([_safe(model)] if model is not None else [])
        return osp.join(*parts)

    def is_done(self, stage, settings, model=None):
        """Whether a finished result of ``stage`` with these settings is on disk."""
        path = osp.join(self.folder(stage, model), 'result.json')
        return osp.isfile(path) and load_json(path).get('settings') == plain(settings)

    def run(self, stage, settings, compute, model=None):
        """The result of ``compute(folder)``, from the cache when it holds one with ``settings``.

        Args:
            stage (str): stage name.
            settings (dict): everything the result depends on (JSON-able).
            compute (callable): ``folder -> result`` (JSON-able); writes its files into folder.
            model (str, optional): model name, for a per-model stage.

        Returns:
            The result, always as read back from JSON (lists, not arrays), so that a cached and a
            fresh result look the same to the caller.
        """
        settings = plain(settings)
        folder = self.folder(stage, model)
        result_path = osp.join(folder, 'result.json')
        settings_path = osp.join(folder, 'settings.json')
        label = stage if model is None else f'{stage} [{model}]'
        if self.is_done(stage, settings, model):
            record = load_json(result_path)
            print_log(f'[audit] {label}: cached ({record.get("seconds", 0):.1f} s when computed)',
                      logger='current')
            self.records.append(dict(stage=stage, model=model, cached=True, seconds=0.0))
            return record['result']
        if osp.isfile(settings_path) and load_json(settings_path) != settings:
            print_log(f'[audit] {label}: settings changed, recomputing', logger='current')
            shutil.rmtree(folder)
        elif osp.isfile(settings_path):
            print_log(f'[audit] {label}: resuming an unfinished run', logger='current')
        dump_json(settings, settings_path)
        start = time.perf_counter()
        result = plain(compute(folder))
        seconds = time.perf_counter() - start
        dump_json(dict(settings=settings, result=result, seconds=seconds), result_path)
        print_log(f'[audit] {label}: done in {seconds:.1f} s', logger='current')
        self.records.append(dict(stage=stage, model=model, cached=False, seconds=seconds))
        return result
