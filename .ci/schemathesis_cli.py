"""schemathesis's command line, with one guard around Hypothesis.

Hypothesis names a lambda by parsing the source of the module it is in. On CPython 3.11
(this machine's Python), building the AST of schemathesis's large coverage module can fail
with "SystemError: AST constructor recursion depth mismatch" (a CPython 3.11 bug in the AST
constructor's depth bookkeeping, python/cpython#106905 and its kin), which aborted a CI run
in the coverage phase: the tool's crash, not a finding. A lambda's name is only a label, so
a failure to make one gives a generic label instead.
"""
import sys

import hypothesis.internal.lambda_sources as lambda_sources

_describe = lambda_sources._lambda_description


def _describe_or_label(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_label

from schemathesis.cli import schemathesis  # noqa: E402  (after the guard, on purpose)

sys.argv[0] = "schemathesis"
sys.exit(schemathesis())
