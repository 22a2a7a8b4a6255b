"""The adversarial inputs of the budget tests: each a few hundred bytes to a few MB of text
that once cost minutes or gigabytes, written as a tree of files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def dockerfile_arg_doubling(lines: int = 40) -> dict[str, str]:
    """``ARG A{i+1}=${A{i}}${A{i}}``: each line doubles the value (2**40 bytes at 40)."""
    body = ["FROM python:3.11-slim@sha256:" + "0" * 64, "ARG A0=x"]
    body += [f"ARG A{i + 1}=${{A{i}}}${{A{i}}}" for i in range(lines)]
    return {"Dockerfile": "\n".join(body) + "\n"}


def dockerfile_arg_to_run(lines: int = 40) -> dict[str, str]:
    """The doubled ``ARG`` used in a ``RUN pip install``."""
    body = ["FROM python:3.11-slim@sha256:" + "0" * 64, "ARG A0=numpy"]
    body += [f"ARG A{i + 1}=${{A{i}}}${{A{i}}}" for i in range(lines)]
    body.append(f"RUN pip install ${{A{lines}}} pandas")
    return {"Dockerfile": "\n".join(body) + "\n"}


def dockerfile_env_doubling(lines: int = 40) -> dict[str, str]:
    """The same through ``ENV``."""
    body = ["FROM python:3.11-slim@sha256:" + "0" * 64, "ENV A0=x"]
    body += [f"ENV A{i + 1}=${{A{i}}}${{A{i}}}" for i in range(lines)]
    body.append(f"RUN pip install ${{A{lines}}}")
    return {"Dockerfile": "\n".join(body) + "\n"}


def shell_doubling(lines: int = 40) -> dict[str, str]:
    """``A="$A $A"``: each line doubles the value, then it is installed."""
    body = ["#!/bin/sh", "A=numpy"]
    body += ['A="$A $A"'] * lines
    body.append("pip install $A")
    return {"install.sh": "\n".join(body) + "\n"}


def shell_nested_loops(depth: int = 12) -> dict[str, str]:
    """Nested ``for`` loops of 32 static values each: 32**depth unrolled bodies."""
    values = " ".join(f"v{i}" for i in range(32))
    body = ["#!/bin/sh"]
    for level in range(depth):
        body.append(f"for x{level} in {values}; do")
    body.append("pip install " + " ".join(f"$x{level}" for level in range(depth)))
    body += ["done"] * depth
    return {"install.sh": "\n".join(body) + "\n"}


def makefile_doubling(lines: int = 40) -> dict[str, str]:
    """Recursively expanded make variables, each twice the previous."""
    body = ["A0 := numpy"]
    body += [f"A{i + 1} = $(A{i}) $(A{i})" for i in range(lines)]
    body += ["", "install:", f"\tpip install $(A{lines})"]
    return {"Makefile": "\n".join(body) + "\n"}


def _step(lines: int) -> str:
    cmds = "\n".join(f"          pip install pkg{i}" for i in range(lines))
    return f"      - &step\n        name: install\n        run: |\n{cmds}\n"


def workflow_step_aliases(aliases: int = 1000, step_lines: int = 300) -> dict[str, str]:
    """One step of ``step_lines`` installs, aliased ``aliases`` times in one job."""
    head = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
    text = head + _step(step_lines) + "      - *step\n" * aliases
    return {".github/workflows/ci.yml": text}


def workflow_job_aliases(aliases: int = 300, step_lines: int = 100) -> dict[str, str]:
    """A whole job anchored and aliased as ``aliases`` other jobs."""
    cmds = "\n".join(f"          pip install pkg{i}" for i in range(step_lines))
    text = (
        "on: push\njobs:\n  j0: &job\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: |\n{cmds}\n"
    )
    text += "".join(f"  j{i + 1}: *job\n" for i in range(aliases))
    return {".github/workflows/ci.yml": text}


def environment_pip_aliases(aliases: int = 2000, entries: int = 500) -> dict[str, str]:
    """An environment.yml whose 500-entry pip list is aliased 2,000 times."""
    pip = "".join(f"      - pkg{i}\n" for i in range(entries))
    text = "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - pip:\n" + pip
    text = text.replace("  - pip:\n", "  - &pip\n    pip:\n", 1)
    text += "  - *pip\n" * aliases
    return {"environment.yml": text}


def environment_laughs(levels: int = 9) -> dict[str, str]:
    """Billion laughs: each level a list of ten aliases of the one above."""
    lines = ["name: x", "channels: [conda-forge]", "x0: &a0 [numpy]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"x{level}: &a{level} [{refs}]")
    lines.append(f"dependencies: *a{levels}")
    return {"environment.yml": "\n".join(lines) + "\n"}


def config_laughs(levels: int = 9) -> dict[str, str]:
    """Billion laughs of mappings in a config file the artifact scanner reads."""
    lines = ["m0: &a0 {model_name: bert-base-uncased, schema_version: latest}"]
    for level in range(1, levels + 1):
        refs = ", ".join(f"k{j}: *a{level - 1}" for j in range(10))
        lines.append(f"m{level}: &a{level} {{{refs}}}")
    return {"configs/train.yaml": "\n".join(lines) + "\n"}


def workflow_matrix(values: int = 64, axes: int = 6) -> dict[str, str]:
    """A matrix of ``values ** axes`` cells, each axis used in a ``run:``."""
    matrix = "".join(
        f"        a{axis}: [{', '.join(str(v) for v in range(values))}]\n" for axis in range(axes)
    )
    used = " ".join(f"pkg{axis}==${{{{ matrix.a{axis} }}}}" for axis in range(axes))
    text = (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      matrix:\n{matrix}    steps:\n      - run: pip install {used}\n"
    )
    return {".github/workflows/ci.yml": text}


def python_big_literal(megabytes: int = 5) -> dict[str, str]:
    """A one-line list literal of ``megabytes`` MB in a file that imports transformers."""
    item = '"abcdefg", '
    count = megabytes * 2**20 // len(item)
    text = "import transformers\n\nDATA = [" + item * count + "]\n"
    text += 'm = transformers.AutoModel.from_pretrained("bert-base-uncased")\n'
    return {"train.py": text}


def python_deep_nesting(depth: int = 6100) -> dict[str, str]:
    """An expression nested ``depth`` unary operators deep (CPython's parser gives up with a
    MemoryError; parentheses stop at 200 with a SyntaxError)."""
    expr = "-" * depth + "1"
    return {"train.py": f"import transformers\nx = {expr}\n"}


def notebook_big_literal(megabytes: int = 5) -> dict[str, str]:
    """The same large literal in a notebook cell."""
    import json

    item = '"abcdefg", '
    count = megabytes * 2**20 // len(item)
    cell = "import transformers\nDATA = [" + item * count + "]\n"
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": [cell], "outputs": []}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return {"explore.ipynb": json.dumps(nb)}


def requirements_unpinned(lines: int = 75_000) -> dict[str, str]:
    """Many unpinned requirements in one file: many findings to render."""
    return {"requirements.txt": "".join(f"pkg{i}\n" for i in range(lines))}


def huge_version(digits: int = 5000) -> dict[str, str]:
    """A version of thousands of digits in a requirements file and a lock."""
    version = "1" * digits
    return {
        "requirements.txt": f"numpy=={version}\n",
        "uv.lock": f'version = 1\n\n[[package]]\nname = "numpy"\nversion = "{version}"\n',
    }


Builder = Callable[[], dict[str, str]]


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def makefile_wide(width: int = 10, levels: int = 8) -> dict[str, str]:
    """Make variables each referring ``width`` times to the one before."""
    body = ["A0 := numpy"]
    body += [f"A{i + 1} = " + " ".join([f"$(A{i})"] * width) for i in range(levels)]
    body += ["", "install:", f"\tpip install $(A{levels})"]
    return {"Makefile": "\n".join(body) + "\n"}


def shell_wide_values(uses: int = 40) -> dict[str, str]:
    """A value just under the length limit (10,000 words), installed ``uses`` times."""
    words = " ".join(f"pkg{i % 100}" for i in range(9000))
    body = ["#!/bin/sh", f'A="{words}"'] + ["pip install $A"] * uses
    return {"install.sh": "\n".join(body) + "\n"}


def dockerfile_many_args(lines: int = 20_000) -> dict[str, str]:
    """Many short ``ARG`` lines in one stage (each once copied all the stage's variables)."""
    body = ["FROM python:3.11-slim@sha256:" + "0" * 64]
    body += [f"ARG A{i}=${{A{i - 1}}}" if i else "ARG A0=x" for i in range(lines)]
    return {"Dockerfile": "\n".join(body) + "\n"}


def workflow_matrix_references(values: int = 100, levels: int = 5) -> dict[str, str]:
    """Matrix values that name the next axis, ``levels`` deep: ``values ** levels`` values."""
    axes = []
    for level in range(levels):
        if level == levels - 1:
            items = ", ".join(str(v) for v in range(values))
        else:
            items = ", ".join([f"'${{{{ matrix.a{level + 1} }}}}'"] * values)
        axes.append(f"        a{level}: [{items}]\n")
    text = (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      matrix:\n{''.join(axes)}    steps:\n"
        "      - uses: actions/setup-python@v5\n        with:\n"
        "          python-version: ${{ matrix.a0 }}\n"
        "      - run: pip install torch==${{ matrix.a0 }}\n"
    )
    return {".github/workflows/ci.yml": text}
