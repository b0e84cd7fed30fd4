"""The bias audit: every analysis of the package on one or more models, one HTML report.

``tools/bias_audit.py`` is its command line; :func:`run_audit` its library entry point.
"""
from .blocks import Section, Unavailable
from .cache import StageCache
from .context import (REDUCED_CORRUPTIONS, REDUCED_SEVERITIES, Audit, AuditModel,
                      AuditOptions)
from .runner import SECTIONS, resolve_sections, run_audit

__all__ = ['Section', 'Unavailable', 'StageCache', 'Audit', 'AuditModel', 'AuditOptions',
           'REDUCED_CORRUPTIONS', 'REDUCED_SEVERITIES', 'SECTIONS', 'resolve_sections',
           'run_audit']
