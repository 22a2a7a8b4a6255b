"""Model launchers on a command line: what hub model a serving or evaluation tool fetches, and
whether the command pins its revision (RP601; a dataset fetched the same way is RP602).

``vllm serve MODEL``, ``text-generation-launcher --model-id MODEL``, ``lm_eval --model_args
pretrained=MODEL``, ``huggingface-cli download REPO`` (and ``hf download``), the same run as
``python -m``, and ``docker run`` of a vLLM or TGI image with the launcher's arguments after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reprolock.audit.revisions import COMMIT_FIX, hub_repository, revision_problem
from reprolock.audit.shell.analyzer import Analyzer, Arg, Call, Handler, retext
from reprolock.audit.shell.syntax import word_set
from reprolock.rules import finding


@dataclass(frozen=True, kw_only=True, slots=True)
class _Launch:
    """What one launcher command names."""

    tool: str
    """How the command is shown (``vllm serve``)."""
    model: Arg | None
    """The argument naming the model."""
    model_text: str
    """The model's id as written (inside ``--model_args``, its ``pretrained=`` part)."""
    revision: str | None
    """The revision given, or None."""
    dataset: bool = False
    """The repository is a dataset (``--repo-type dataset``)."""
    option: str = ""
    """The option that named it, for the message (``--model-id``)."""


def _options(rest: Sequence[Arg], names: frozenset[str]) -> dict[str, Arg]:
    """``--name value`` and ``--name=value`` for the ``names`` given (the first of each)."""
    found: dict[str, Arg] = {}
    index = 0
    while index < len(rest):
        text = rest[index].text
        option, eq, value = text.partition("=")
        if option in names and option not in found:
            if eq:
                found[option] = retext(rest[index], value)
            elif index + 1 < len(rest):
                found[option] = rest[index + 1]
                index += 1
        index += 1
    return found


def _first_operand(rest: Sequence[Arg], value_options: frozenset[str]) -> Arg | None:
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "--":
            return rest[index + 1] if index + 1 < len(rest) else None
        if text.startswith("-"):
            index += 2 if text in value_options else 1
            continue
        return rest[index]
    return None


_VLLM_OPTIONS = frozenset({"--model", "--revision", "--tokenizer", "--tokenizer-revision"})
_VLLM_VALUES = word_set(
    "--host --port --model --revision --tokenizer --tokenizer-revision --dtype --config "
    "--tensor-parallel-size -tp --max-model-len --gpu-memory-utilization --served-model-name "
    "--download-dir --quantization -q --api-key --chat-template --seed --device"
)


def _vllm(rest: Sequence[Arg], tool: str) -> _Launch | None:
    """``vllm serve [MODEL] [--model M] [--revision R]`` and the OpenAI API server module."""
    options = _options(rest, _VLLM_OPTIONS)
    model = options.get("--model") or _first_operand(rest, _VLLM_VALUES)
    if model is None:
        return None
    revision = options.get("--revision")
    return _Launch(
        tool=tool,
        model=model,
        model_text=model.text,
        revision=revision.text if revision else None,
        option="--model" if "--model" in options else "",
    )


def _tgi(rest: Sequence[Arg], tool: str) -> _Launch | None:
    """``text-generation-launcher --model-id M [--revision R]`` (also TGI's docker image)."""
    options = _options(rest, frozenset({"--model-id", "--revision"}))
    model = options.get("--model-id")
    if model is None:
        return None
    revision = options.get("--revision")
    return _Launch(
        tool=tool,
        model=model,
        model_text=model.text,
        revision=revision.text if revision else None,
        option="--model-id",
    )


def _lm_eval(rest: Sequence[Arg], tool: str) -> _Launch | None:
    """``lm_eval --model hf --model_args pretrained=M,revision=R,...``."""
    options = _options(rest, frozenset({"--model_args", "--model-args"}))
    args = options.get("--model_args") or options.get("--model-args")
    if args is None:
        return None
    pairs = dict(part.strip().partition("=")[::2] for part in args.text.split(",") if "=" in part)
    model = pairs.get("pretrained") or pairs.get("model")
    if not model:
        return None
    return _Launch(
        tool=tool,
        model=args,
        model_text=model,
        revision=pairs.get("revision"),
        option="--model_args pretrained=",
    )


_HF_DOWNLOAD_VALUES = word_set(
    "--revision --repo-type --local-dir --cache-dir --include --exclude --token --max-workers"
)


def _hf_download(rest: Sequence[Arg], tool: str) -> _Launch | None:
    """``huggingface-cli download REPO [FILES] [--revision R] [--repo-type T]``."""
    if not rest or rest[0].text != "download":
        return None
    after = list(rest[1:])
    options = _options(after, frozenset({"--revision", "--repo-type"}))
    repo = _first_operand(after, _HF_DOWNLOAD_VALUES)
    if repo is None:
        return None
    revision = options.get("--revision")
    kind = options.get("--repo-type")
    return _Launch(
        tool=f"{tool} download",
        model=repo,
        model_text=repo.text,
        revision=revision.text if revision else None,
        dataset=kind is not None and kind.text == "dataset",
    )


_LAUNCHERS = {
    "lm_eval": _lm_eval,
    "lm-eval": _lm_eval,
    "text-generation-launcher": _tgi,
    "huggingface-cli": _hf_download,
    "hf": _hf_download,
}
MODULES = {
    "lm_eval": _lm_eval,
    "vllm.entrypoints.openai.api_server": _vllm,
    "vllm.entrypoints.api_server": _vllm,
}
"""``python -m MODULE`` runs of a launcher."""


def _judge(analyzer: Analyzer, launch: _Launch | None) -> None:
    """RP601 (RP602 for a dataset) when the launch names a hub repository without a commit."""
    if launch is None or launch.model is None or launch.model.dynamic:
        return
    model = launch.model_text.strip().strip("'\"")
    if "$" in model or not hub_repository(model):
        return
    if launch.revision is not None:
        if "$" in launch.revision or revision_problem(launch.revision) is None:
            return  # a commit, or one the caller passes in
        how = f"at revision {revision_problem(launch.revision)}"
    else:
        how = "without a revision"
    what = "dataset" if launch.dataset else "model"
    by = f"{launch.tool} {launch.option}".strip()
    message = f"{what} {model} is fetched by {by} {how}"
    fix = f"--revision {COMMIT_FIX}"
    if launch.option.startswith("--model_args"):
        fix = f"--model_args pretrained={model},revision={COMMIT_FIX}"
    rule = "RP602" if launch.dataset else "RP601"
    analyzer.findings.append(
        finding(rule, message, analyzer.at(launch.model.word), subject=model, fix=fix)
    )


def _launcher(analyzer: Analyzer, call: Call) -> None:
    reader = _LAUNCHERS.get(call.name)
    if reader is not None:
        _judge(analyzer, reader(call.rest, call.name))


def _vllm_command(analyzer: Analyzer, call: Call) -> None:
    if call.rest and call.rest[0].text == "serve":
        _judge(analyzer, _vllm(call.rest[1:], "vllm serve"))


def run_module(analyzer: Analyzer, module: str, rest: list[Arg]) -> None:
    """``python -m MODULE REST`` for a launcher module."""
    reader = MODULES.get(module)
    if reader is not None:
        _judge(analyzer, reader(rest, f"python -m {module}"))


_DOCKER_VALUES = word_set(
    "-e --env --env-file -v --volume -p --publish --name --gpus --shm-size -w --workdir "
    "--network --net --entrypoint --ipc --runtime -u --user --mount --device --platform "
    "--cap-add --cap-drop -l --label -m --memory --cpus --restart --ulimit --hostname -h "
    "--add-host --log-driver --log-opt --pull --security-opt --tmpfs --cidfile --pid "
    "--stop-signal --stop-timeout --health-cmd --cpuset-cpus --memory-swap"
)


def _docker(analyzer: Analyzer, call: Call) -> None:
    """``docker run [options] IMAGE ARGS``: a vLLM or TGI image runs its launcher on ARGS."""
    rest = call.rest
    if not rest or rest[0].text not in {"run", "create"}:
        return
    index = 1
    while index < len(rest):
        text = rest[index].text
        if text.startswith("-"):
            index += 2 if text in _DOCKER_VALUES else 1
            continue
        break
    if index >= len(rest):
        return
    image = rest[index].text.lower()
    args = list(rest[index + 1 :])
    if "text-generation-inference" in image:
        _judge(analyzer, _tgi(args, "text-generation-inference"))
    elif "vllm-openai" in image or image.startswith(("vllm/", "docker.io/vllm/")):
        _judge(analyzer, _vllm(args, "vllm"))


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(_LAUNCHERS, _launcher),
    "vllm": _vllm_command,
    **dict.fromkeys(("docker", "podman", "nerdctl"), _docker),
}
"""Model launchers, by the program name that runs them."""
