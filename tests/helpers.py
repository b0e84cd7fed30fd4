"""Small helpers shared by tests (imported as ``helpers``; ``tests/`` is on sys.path under pytest)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_cli(args, env=None, timeout=600):
    """Run ``args`` from the repository root with this interpreter; fail showing its output."""
    full_env = dict(os.environ, PYTHONPATH=REPO, PYTHON=sys.executable, **(env or {}))
    proc = subprocess.run([str(a) for a in args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(map(str, args))} failed:\n{output[-6000:]}'
    return output


def load_tool(path):
    """The tool script ``path`` (relative to the repository) as a module, to call in-process."""
    name = 'tool_' + osp.splitext(path.replace('/', '_'))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
