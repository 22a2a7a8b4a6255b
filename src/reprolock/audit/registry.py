"""The scanners, in the order they are offered each file (the first that claims it wins).

Specific formats come before generic ones: a workflow or an environment.yml is claimed by
its own scanner before the artifact scanner looks at YAML config in general.
"""

from __future__ import annotations

from reprolock.audit.artifacts import artifact_scanners
from reprolock.audit.conda import CondaScanner
from reprolock.audit.devcontainer import devcontainer_scanners
from reprolock.audit.dockerfile import dockerfile_scanners
from reprolock.audit.frameworks import framework_scanners
from reprolock.audit.gitlab import gitlab_scanners
from reprolock.audit.interface import Scanner
from reprolock.audit.locks import lock_scanners
from reprolock.audit.pipfile import pipfile_scanners
from reprolock.audit.precommit import pre_commit_scanners
from reprolock.audit.pyproject import PyprojectScanner
from reprolock.audit.requirements import RequirementsScanner
from reprolock.audit.shell import shell_scanners
from reprolock.audit.workflows import workflow_scanners


def all_scanners() -> list[Scanner]:
    """Fresh instances of every scanner."""
    return [
        PyprojectScanner(),
        *lock_scanners(),
        *pipfile_scanners(),
        CondaScanner(),
        RequirementsScanner(),
        *dockerfile_scanners(),
        *workflow_scanners(),
        *pre_commit_scanners(),
        *gitlab_scanners(),
        *devcontainer_scanners(),
        *shell_scanners(),
        *framework_scanners(),
        *artifact_scanners(),
    ]


def scanner_named(name: str) -> Scanner:
    """The scanner with this :attr:`Scanner.name`."""
    for scanner in all_scanners():
        if scanner.name == name:
            return scanner
    raise KeyError(name)
