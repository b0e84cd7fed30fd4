"""Install mmseg-bias, an MMSegmentation 1.x plugin (package ``mmseg_bias``).

mmcv must already be installed (full mmcv 2.1.0 with ops, built against your torch):
see the README's installation section, or run ``make quickstart``, ``make demo`` or
``make test``.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version():
    scope = {}
    with open(osp.join(HERE, 'mmseg_bias', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmseg-bias',
    version=read_version(),
    description='DropClass debiasing, IBE/SCrIBE robustness and grid-saliency context '
    'explanations as an MMSegmentation 1.x plugin',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools', 'benchmarks')),
    install_requires=read_requirements('runtime') + ['mmcv>=2.0.0rc4,<2.2.0'],
    extras_require={
        'optional': read_requirements('optional'),
        'tests': read_requirements('tests'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
