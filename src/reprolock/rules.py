"""The rule catalogue: the one table of every rule id, its meaning and its default severity.

Ids never change meaning once released. Scanners refer to rules by id; the table is the
single place where titles, rationales and fix hints live.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprolock.dataapis import apis_of
from reprolock.model import Finding, Location, Severity


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """One entry of the catalogue."""

    id: str
    """``RP`` + three digits."""
    name: str
    """Short kebab-case name, used by SARIF and in lists."""
    severity: Severity
    """Default severity; config may change it or turn the rule off."""
    summary: str
    """One line: what the rule flags."""
    rationale: str
    """Why it matters for reproducibility."""
    fix: str
    """How to make the finding go away properly."""
    bad: str
    """A minimal example that is flagged."""
    good: str
    """The same example, fixed."""
    reads: tuple[str, ...] = ()
    """The APIs and forms the rule reads, where it is about calls (``repro rules RP602``)."""


_RULES: tuple[Rule, ...] = (
    Rule(
        id="RP001",
        name="unparsable-file",
        severity=Severity.ERROR,
        summary="A file its own tool would reject could not be parsed",
        rationale=(
            "Invalid TOML, YAML or JSON, a lock its locker cannot read, a Dockerfile BuildKit "
            "refuses, a Python file that is not Python: the installer or runner fails on it "
            "too, and reprolock cannot vouch for it. The rest of the audit continues; this "
            "finding names the line that stopped the parser. A construct reprolock does not "
            "understand inside a host language (make, shell, IPython, templates) is never "
            "RP001: that is at most an RP002 note."
        ),
        fix="Repair the syntax at the reported line, or exclude the file if it is not used.",
        bad="numpy===\n",
        good="numpy==1.26.4\n",
    ),
    Rule(
        id="RP002",
        name="partly-understood-file",
        severity=Severity.NOTE,
        summary="Part of a file was not understood and was skipped",
        rationale=(
            "A construct reprolock does not read in a file whose syntax is a host language's "
            "(shell text its reader cannot follow, a notebook statement that is not Python, "
            "GNU make or Jinja/Go template text), or text past one of the audit's limits (an "
            "expansion that grows without bound, a nesting too deep, a file too large to read "
            "whole), is skipped for that part only; the rest of the file is audited. The "
            "file's own tool may well accept it, so this is a note, below every default "
            "--fail-on: what was skipped is not vouched for, but it is no evidence of a problem."
        ),
        fix=(
            "Usually nothing: review the part named if it installs or fetches anything. "
            "docs/robustness.md lists every limit and what happens past it."
        ),
        bad="ARG A1=${A0}${A0}\nARG A2=${A1}${A1}\n... (each line doubles the value)\n",
        good='ARG PACKAGES="numpy==1.26.4 pandas==2.2.2"\n',
    ),
    Rule(
        id="RP101",
        name="unpinned-requirement",
        severity=Severity.ERROR,
        summary="A requirement in a concrete environment has no version constraint",
        rationale=(
            "An installer resolves an unconstrained requirement to whatever is newest on the "
            "day of the build, so two builds of the same commit install different code."
        ),
        fix="Pin the exact version, ideally the one your lock already resolves.",
        bad="numpy\n",
        good="numpy==1.26.4 --hash=sha256:<64 hex>\n",
    ),
    Rule(
        id="RP102",
        name="inexact-requirement",
        severity=Severity.ERROR,
        summary="A requirement in a concrete environment is a range, not an exact pin",
        rationale=(
            "Ranges (>=, ~=, <, ==1.*, !=) describe what a project is compatible with, not "
            "what gets installed. In an environment that is shipped, the installed version "
            "must be decided once and recorded."
        ),
        fix="Replace the range with ==VERSION, or compile the range in a .in file to a lock.",
        bad="scikit-learn>=1.3\n",
        good="scikit-learn==1.3.2 --hash=sha256:<64 hex>\n",
    ),
    Rule(
        id="RP103",
        name="missing-hash",
        severity=Severity.WARNING,
        summary="An exact pin has no hash",
        rationale=(
            "A version number does not identify the bytes installed: a re-uploaded or "
            "compromised distribution keeps its version. Hashes make pip refuse anything "
            "else. Hashing only some lines of one file is an error, because pip then "
            "requires hashes for every line and the install fails."
        ),
        fix="Compile with `pip-compile --generate-hashes` or `uv pip compile --generate-hashes`.",
        bad="numpy==1.26.4\n",
        good="numpy==1.26.4 \\\n    --hash=sha256:<64 hex>\n",
    ),
    Rule(
        id="RP104",
        name="mutable-vcs-reference",
        severity=Severity.ERROR,
        summary="A VCS requirement or a built git clone does not name a 40-hex commit",
        rationale=(
            "Branches and tags move; a repository URL with no ref installs whatever the "
            "default branch holds today. Only a full commit id names fixed content. The same "
            "holds in shell form: git clone of a branch, a tag or the default branch that is "
            "then installed, built or entered (pip install -e, setup.py, cmake, WORKDIR)."
        ),
        fix="Append @<40-hex commit> to the URL; after git clone, git checkout <40-hex commit>.",
        bad="mylib @ git+https://github.com/org/mylib@main\n",
        good="mylib @ git+https://github.com/org/mylib@3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39\n",
    ),
    Rule(
        id="RP105",
        name="unverified-download",
        severity=Severity.ERROR,
        summary="A direct URL, archive, remote script or downloaded binary is used unchecked",
        rationale=(
            "The content behind a URL can change without the URL changing. Without a hash "
            "nothing detects it: a script piped from curl into a shell runs whatever the "
            "server sends that day, and so does a package or binary downloaded and installed "
            "(dpkg -i, unzip or tar into /usr/local, install into a PATH directory). Plain "
            "http lets anyone on the network path replace it; releases/latest and stable.txt "
            "URLs change on every release by design."
        ),
        fix=(
            "Add --hash=sha256:<hex> (requirements) or #sha256=<hex> to the URL; check a "
            "download with sha256sum -c against a hash written in the repository."
        ),
        bad="pkg @ https://example.org/pkg-1.0.tar.gz\n",
        good="pkg @ https://example.org/pkg-1.0.tar.gz#sha256=<64 hex>\n",
    ),
    Rule(
        id="RP106",
        name="external-local-path",
        severity=Severity.WARNING,
        summary="A local path or editable install points outside the repository",
        rationale=(
            "A path outside the repository is whatever happens to be on the machine that "
            "builds; nobody else can rebuild the environment."
        ),
        fix="Vendor the package into the repository, or depend on a published, pinned release.",
        bad="-e ../shared-utils\n",
        good="shared-utils==2.1.0 --hash=sha256:<64 hex>\n",
    ),
    Rule(
        id="RP107",
        name="insecure-index-option",
        severity=Severity.WARNING,
        summary="--extra-index-url or --trusted-host in a concrete environment",
        rationale=(
            "With an extra index pip takes the highest version found on any index, so a "
            "public package with an internal package's name wins (dependency confusion). "
            "--trusted-host turns off TLS verification for that host."
        ),
        fix="Use a single --index-url that proxies both sources, and keep TLS on.",
        bad="--extra-index-url https://pypi.internal.example/simple\n",
        good="--index-url https://pypi.internal.example/simple\n",
    ),
    Rule(
        id="RP108",
        name="unpinned-build-requirement",
        severity=Severity.WARNING,
        summary="A build requirement in [build-system] is not pinned",
        rationale=(
            "Build backends change what goes into a wheel or sdist; an unpinned backend "
            "makes the built artefact depend on the day of the build."
        ),
        fix="Pin the backend exactly in [build-system] requires.",
        bad='[build-system]\nrequires = ["setuptools"]\n',
        good='[build-system]\nrequires = ["setuptools==69.5.1"]\n',
    ),
    Rule(
        id="RP201",
        name="manifest-without-lock",
        severity=Severity.ERROR,
        summary="A manifest declares dependencies but no lock file records their resolution",
        rationale=(
            "A manifest states intent (ranges). Without a lock, every install re-resolves "
            "and may pick different versions."
        ),
        fix="Generate a lock beside the manifest (uv lock, poetry lock, pip-compile, conda-lock).",
        bad="pyproject.toml with [project] dependencies and no lock\n",
        good="pyproject.toml + uv.lock (or requirements.txt compiled from it)\n",
    ),
    Rule(
        id="RP202",
        name="stale-lock",
        severity=Severity.ERROR,
        summary="A lock file is out of sync with its manifest",
        rationale=(
            "When the manifest changed after the lock was written, the lock no longer "
            "describes what the project asks for, and tools either fail or silently "
            "re-resolve."
        ),
        fix="Re-run the locking tool (poetry lock, uv lock, pipenv lock, pip-compile, conda-lock).",
        bad="requirements.in: numpy>=2 ; requirements.txt: numpy==1.26.4\n",
        good="requirements.in: numpy>=2 ; requirements.txt: numpy==2.1.3\n",
    ),
    Rule(
        id="RP203",
        name="lock-entry-without-hash",
        severity=Severity.WARNING,
        summary="A lock entry carries no hash or integrity data",
        rationale=(
            "A lock without hashes records versions but cannot prove the installed bytes "
            "are the ones that were locked."
        ),
        fix="Regenerate with hashes: pip-compile --generate-hashes (other lockers hash by default)",
        bad="numpy==1.26.4    # via -r requirements.in\n",
        good="numpy==1.26.4 \\\n    --hash=sha256:<64 hex>\n    # via -r requirements.in\n",
    ),
    Rule(
        id="RP301",
        name="image-without-digest",
        severity=Severity.WARNING,
        summary="A container image or devcontainer feature is not pinned by @sha256 digest",
        rationale=(
            "Tags are pointers that registries let their owners move: python:3.11-slim is "
            "rebuilt every few weeks with new OS packages. Only a digest names fixed bytes."
        ),
        fix="Append @sha256:<digest> (docker buildx imagetools inspect IMAGE shows it).",
        bad="FROM python:3.11-slim\n",
        good="FROM python:3.11-slim@sha256:<64 hex>\n",
    ),
    Rule(
        id="RP302",
        name="mutable-image-tag",
        severity=Severity.ERROR,
        summary="A container image has a floating tag (latest, nightly), no tag, or an unset ARG",
        rationale=(
            "`latest` (explicit or implied) changes with every upstream release, so the "
            "image's OS, Python and CUDA can all change between two builds of one commit. "
            "Tags that follow a channel or a branch are as mutable: rolling, nightly, edge, "
            "latest-gpu, main, dev, stable (src/reprolock/audit/images.py lists them)."
        ),
        fix="Name a version tag and a digest: FROM python:3.11.9-slim@sha256:<64 hex>.",
        bad="FROM pytorch/pytorch\n",
        good="FROM pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime@sha256:<64 hex>\n",
    ),
    Rule(
        id="RP304",
        name="unversioned-os-package",
        severity=Severity.NOTE,
        summary="OS packages are installed without versions",
        rationale=(
            "apt, apk, yum and dnf install whatever the mirror holds on the day of the "
            "build. Pinning the base image by digest narrows this; pinning packages closes it."
        ),
        fix="Pin versions (apt-get install curl=7.88.1-10+deb12u5), or accept with a baseline.",
        bad="RUN apt-get install -y curl\n",
        good="RUN apt-get install -y curl=7.88.1-10+deb12u5\n",
    ),
    Rule(
        id="RP401",
        name="action-not-pinned-by-sha",
        severity=Severity.WARNING,
        summary="A CI action is not pinned to a full commit SHA",
        rationale=(
            "Action tags (v4) and branches move, and a compromised tag runs new code in "
            "every pipeline that uses it. A 40-hex commit is immutable."
        ),
        fix="Pin the commit and keep the version in a comment: uses: org/action@<40 hex> # v4.1.7",
        bad="- uses: actions/checkout@v4\n",
        good="- uses: actions/checkout@<40 hex> # v4.1.7\n",
    ),
    Rule(
        id="RP402",
        name="remote-hook-or-include-not-pinned",
        severity=Severity.WARNING,
        summary="A pre-commit hook repository or a CI include is not pinned to a commit",
        rationale=(
            "pre-commit's rev: and GitLab's include: project/ref and component@version fetch "
            "code or pipeline definitions from another repository by tag or branch; the owner "
            "can move a tag, so what runs on a developer's machine or in CI changes with no "
            "change here. Only a 40-hex commit names fixed content."
        ),
        fix=(
            "Pin the commit and keep the version in a comment: rev: <40 hex>  # v4.6.0 "
            "(pre-commit autoupdate --freeze writes it)."
        ),
        bad="- repo: https://github.com/psf/black\n  rev: 24.4.2\n",
        good="- repo: https://github.com/psf/black\n  rev: <40 hex>  # 24.4.2\n",
    ),
    Rule(
        id="RP403",
        name="floating-ci-toolchain",
        severity=Severity.NOTE,
        summary="A CI toolchain version floats (python-version: 3.x, or none given)",
        rationale=(
            "A CI job on `3.x` or `latest` moves to a new interpreter the day it is "
            "released, so the environment CI tested is not the one that ships. A setup "
            "action given no version at all (setup-uv, setup-miniconda, setup-dvc, "
            "setup-python with no .python-version) installs whatever is newest or bundled."
        ),
        fix="Name the minor version the project ships on: python-version: '3.11'.",
        bad="python-version: 3.x\n",
        good="python-version: '3.11'\n",
    ),
    Rule(
        id="RP501",
        name="framework-skew",
        severity=Severity.ERROR,
        summary="An ML framework is pinned to different versions in environments that must agree",
        rationale=(
            "A model trained under one version of a framework and served under another can "
            "predict differently (changed defaults, kernels, pickling formats) with no error. "
            "An environment is what is installed together: a lock, a requirements file with its "
            "includes, a Dockerfile stage with what it installs, a CI job, a conda environment. "
            "Serving, training, pipeline and batch environments (by their path, or what they "
            "install) build or serve the model and must agree; test, docs, example, benchmark, "
            "dev and CI ones need not. Alternatives (paths that differ by a variant token such "
            "as cu118, cpu, rocm, windows, py310 or a backends/ directory), the forks of one "
            "lock, the cells of a CI matrix and a library's CI jobs are never compared."
        ),
        fix=(
            "Pin the framework to one version in every environment that must agree, or share "
            "one lock. To say which environments agree: [tool.repro.environments.NAME] with "
            "members = [globs] (and exclude, purpose) names a group and replaces the default "
            "one; a table named default adds to it or excludes from it."
        ),
        bad=(
            "training/requirements.txt: scikit-learn==1.3.2\n"
            "serving/requirements.txt: scikit-learn==1.4.2\n"
        ),
        good=(
            "training/requirements.txt: scikit-learn==1.3.2\n"
            "serving/requirements.txt: scikit-learn==1.3.2\n"
            "# or, when only some environments serve one model:\n"
            "[tool.repro.environments.churn]\n"
            'members = ["churn/training/**", "churn/serving/**"]\n'
        ),
    ),
    Rule(
        id="RP502",
        name="accelerator-variant-unpinned",
        severity=Severity.WARNING,
        summary="A GPU framework's build is left to chance in an environment that runs on CUDA",
        rationale=(
            "torch==2.3.1 resolves to whatever build the index serves for the platform: from "
            "PyPI on Linux the CUDA 12.1 one, from another index or on another machine a CPU, "
            "cu118 or ROCm one. That is fine where the default build fits the environment; it "
            "is reported where it does not: a default wheel whose CUDA major is not the "
            "environment's, a CPU wheel (every PyPI jaxlib) on CUDA, a sibling pinned to another "
            "CUDA (torchvision+cu118 beside a PyPI torch), tensorflow with no CUDA libraries. "
            "Judged per environment on CUDA on Linux only, through a table of builds shipped "
            "with reprolock; a +variant, hashes, a variant index or -f page on the command or "
            "in the file all pin the variant."
        ),
        fix=(
            "Pin the variant (torch==2.3.1+cu118) from the framework's index, or install from a "
            "pinned variant index; the fix names a wheel only when that build exists."
        ),
        bad="FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\nRUN pip install torch==2.3.1\n",
        good=(
            "FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04\n"
            "RUN pip install --index-url https://download.pytorch.org/whl/cu118 torch==2.3.1\n"
        ),
    ),
    Rule(
        id="RP503",
        name="cuda-mismatch",
        severity=Severity.ERROR,
        summary="The image's CUDA version disagrees with the framework wheel's variant",
        rationale=(
            "A cu118 wheel in a CUDA 12.1 image (or the reverse) needs another driver and cannot "
            "build extensions against the image's toolkit. Each Dockerfile stage (its parent "
            "stages' image included) and CI job container is judged with everything it installs: "
            "requirements files, and the lock that uv sync, poetry install, pdm sync or pipenv "
            "sync installs. The major version must match; the minor too in a devel image, where "
            "code is compiled against the toolkit."
        ),
        fix="Use the framework variant that matches the image's CUDA (or the image that matches).",
        bad="FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN pip install torch==2.3.1+cu118\n",
        good="FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN pip install torch==2.3.1+cu121\n",
    ),
    Rule(
        id="RP504",
        name="python-version-drift",
        severity=Severity.WARNING,
        summary="Python versions disagree across requires-python, .python-version, images and CI",
        rationale=(
            "Tests on 3.12 in CI say little about a 3.10 production image: wheels, pickles "
            "and numerics differ between interpreter versions. A CI job whose Python the "
            "requires-python of the project it installs (pip install ., uv sync, poetry "
            "install) does not admit fails the day the installer enforces it."
        ),
        fix="Choose one minor version and state it everywhere it is stated.",
        bad=".python-version: 3.12 ; Dockerfile: FROM python:3.10-slim\n",
        good=".python-version: 3.11 ; Dockerfile: FROM python:3.11-slim\n",
    ),
    Rule(
        id="RP601",
        name="model-without-revision",
        severity=Severity.WARNING,
        summary="Model weights are fetched without a pinned revision",
        rationale=(
            "A hub model id names a repository, not a version: its owner can push new "
            "weights or a new tokenizer at any time, and from_pretrained takes the newest. "
            "The same holds for a model named in serving or training config (model_name, "
            "model_id, base_model) and on a launcher's command line (vllm serve, "
            "text-generation-launcher --model-id, lm_eval --model_args pretrained=)."
        ),
        fix="Pass revision='<40-hex commit>' (hub) or a pinned ref (torch.hub 'owner/repo:ref').",
        bad='AutoModel.from_pretrained("bert-base-uncased")\n',
        good='AutoModel.from_pretrained("bert-base-uncased", revision="<40 hex>")\n',
        reads=(
            "*.from_pretrained()",
            "snapshot_download()",
            "hf_hub_download()",
            "transformers.pipeline()",
            "SentenceTransformer()",
            "CrossEncoder()",
            "torch.hub.load()",
            "timm/open_clip hf-hub: names",
            *apis_of("RP601"),
            "config keys model_name/model_id/base_model/pretrained",
            "serving launchers",
        ),
    ),
    Rule(
        id="RP602",
        name="dataset-without-revision",
        severity=Severity.WARNING,
        summary="A dataset is fetched without a pinned revision",
        rationale=(
            "Datasets are edited in place on hubs, in DVC remotes, on Kaggle and in ClearML, "
            "and tables in Delta, Iceberg and Hudi get new commits; training on 'whatever the "
            "dataset is today' makes a run impossible to repeat. A TFDS name without a "
            "version reads whichever version the installed tensorflow-datasets defaults to."
        ),
        fix=(
            "Pass revision= (load_dataset) or rev= (dvc.api), or dvc import --rev <commit>; "
            "name the version (Kaggle owner/ds/versions/<N>, TFDS name:<x.y.z>, ClearML "
            "dataset_version= or dataset_id=) or read the table as of one (Delta versionAsOf, "
            "Iceberg snapshot-id, Hudi as.of.instant)."
        ),
        bad='load_dataset("imdb")\n',
        good='load_dataset("imdb", revision="<40 hex>")\n',
        reads=(
            "datasets.load_dataset()",
            "datasets.load_dataset_builder()",
            "snapshot_download(repo_type='dataset')",
            "dvc.api.open()",
            "dvc.api.read()",
            "dvc.api.get_url()",
            "dvc.api.DVCFileSystem()",
            *apis_of("RP602"),
            "Kedro catalog entries whose filepath is a git-hosted file at a branch or tag",
        ),
    ),
    Rule(
        id="RP603",
        name="mutable-model-registry-reference",
        severity=Severity.WARNING,
        summary="A model registry reference uses a mutable stage or alias",
        rationale=(
            "models:/churn/Production and :latest point at whatever was promoted last; the "
            "code that loads it does not say which model it runs."
        ),
        fix="Reference an immutable version: models:/churn/7 (or an artifact digest).",
        bad='mlflow.pyfunc.load_model("models:/churn/Production")\n',
        good='mlflow.pyfunc.load_model("models:/churn/7")\n',
        reads=(
            "models:/<name>/<stage or latest> and models:/<name>@<alias>",
            "dvc.api.artifacts_download()",
            *apis_of("RP603"),
        ),
    ),
    Rule(
        id="RP604",
        name="unpinned-data-version",
        severity=Severity.WARNING,
        summary="A data schema or dataset version is unpinned in config",
        rationale=(
            "`schema_version: latest`, a /latest/ data path, a lakeFS branch or a schema "
            "registry's latest version lets the data or its schema under a model change "
            "without any change in the repository."
        ),
        fix=(
            "Name the exact schema or dataset version (schema_version: 3, /v2024-06-01/, a "
            "lakeFS commit or tag, a schema registry version or id)."
        ),
        bad="schema_version: latest\n",
        good="schema_version: 3\n",
        reads=(
            "config keys schema_version/dataset_version/data.version",
            "data paths with a /latest/ segment (s3://, gs://, abfss://, dbfs:/, /dbfs/...)",
            "lakefs://<repo>/<branch>/... on main, master, dev, develop, staging, prod...",
            "schema registry URLs .../subjects/<s>/versions/latest",
            *apis_of("RP604"),
        ),
    ),
    Rule(
        id="RP605",
        name="dvc-pipeline-not-locked",
        severity=Severity.ERROR,
        summary="A DVC pipeline has no dvc.lock, or a stage is missing from it",
        rationale=(
            "dvc.lock records the hashes of every stage's dependencies and outputs; "
            "without it `dvc repro` cannot tell what was produced from what."
        ),
        fix="Run dvc repro (or dvc commit) and commit dvc.lock.",
        bad="dvc.yaml with stages, no dvc.lock\n",
        good="dvc.yaml + dvc.lock listing every stage\n",
    ),
    Rule(
        id="RP701",
        name="inexact-conda-spec",
        severity=Severity.ERROR,
        summary="A conda spec in a concrete environment is not exact",
        rationale=(
            "conda's `numpy=1.26` is a fuzzy match (1.26.*), and `numpy` or `numpy>=1.2` "
            "float. Without a conda-lock file, environment.yml is what gets installed."
        ),
        fix="Pin name=version=build, or generate conda-lock.yml and install from it.",
        bad="dependencies:\n  - numpy=1.26\n",
        good="dependencies:\n  - numpy=1.26.4=py311h64a7726_0\n",
    ),
    Rule(
        id="RP703",
        name="conda-channels",
        severity=Severity.NOTE,
        summary="conda channels are unspecified or mixed",
        rationale=(
            "With no channels the user's .condarc decides where packages come from; mixing "
            "`defaults` with `conda-forge` gives binary-incompatible builds depending on "
            "channel priority."
        ),
        fix="List one channel family explicitly (e.g. only conda-forge) and add `nodefaults`.",
        bad="dependencies:\n  - numpy==1.26.4\n",
        good="channels:\n  - conda-forge\n  - nodefaults\ndependencies:\n  - numpy==1.26.4\n",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
"""Every rule, by id, in catalogue order."""


def get_rule(rule_id: str) -> Rule:
    """The rule with this id; ``KeyError`` for an unknown id."""
    return RULES[rule_id.upper()]


def expand_selectors(selectors: list[str]) -> set[str]:
    """Rule ids matched by a list of ids or prefixes (``RP1`` matches ``RP101``...)."""
    selected: set[str] = set()
    for raw in selectors:
        token = raw.strip().upper()
        if not token:
            continue
        matched = {rid for rid in RULES if rid.startswith(token)}
        if not matched:
            msg = f"unknown rule or prefix {raw.strip()!r}"
            raise ValueError(msg)
        selected |= matched
    return selected


def finding(
    rule_id: str,
    message: str,
    location: Location,
    *,
    subject: str = "",
    fix: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding for ``rule_id`` with the rule's default severity unless one is given."""
    return Finding(
        rule=rule_id,
        severity=severity if severity is not None else RULES[rule_id].severity,
        message=message,
        location=location,
        subject=subject,
        fix=fix,
    )
