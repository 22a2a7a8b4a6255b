"""Downloads and what runs them: what ``curl``/``wget``/``aws s3 cp`` fetch and where they
write it, the checks that verify a download (``sha256sum -c``, ``gpg --verify``), and the
commands that run text or a file as a script (shells, interpreters, ``source``, ``eval``,
``su -c``): a download that runs unchecked is a remote script (RP105)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from reprolock.audit.shell import models
from reprolock.audit.shell.analyzer import (
    Analyzer,
    Arg,
    Call,
    Download,
    Fetch,
    Handler,
    Outcome,
    command_name,
    recall,
    retext,
)
from reprolock.audit.shell.syntax import Command, Word, parse, word_set
from reprolock.rules import finding

SCRIPT_FIX = (
    "download it to a file, check it with sha256sum -c against a known hash, then run it "
    "(or fetch it from a URL that names a commit)"
)
_HEX40 = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_GIT_HOSTS = word_set(
    "raw.githubusercontent.com github.com gist.githubusercontent.com gitlab.com "
    "bitbucket.org cdn.jsdelivr.net"
)
_CHECKSUMS = word_set("sha256sum sha512sum sha384sum sha224sum sha1sum md5sum b2sum shasum")
_VERIFIERS = word_set("gpgv minisign cosign slsa-verifier signify")
_PATH_DIRS = word_set("/usr/local/bin /usr/local/sbin /usr/bin /usr/sbin /bin /sbin")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/etc")
"""Where what is unpacked or copied becomes part of the system: programs, libraries, config."""
_FLOATING_URL = re.compile(
    r"/releases/latest(?:/|$)|/latest/download/|/latest(?:/|$)|(?:^|/)(?:stable|latest)\.txt\b",
    re.IGNORECASE,
)
INSTALL_FIX = (
    "check the download with sha256sum -c against a hash written in the repository before "
    "installing it (and download a fixed version over https)"
)
_CHECKSUM_LINE = re.compile(r"(?m)^\s*\S+\s+\*?(\S+)\s*$")


def immutable_url(url: str) -> bool:
    """True for a URL that names a commit on a git host (its bytes cannot change)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if (parts.hostname or "") not in _GIT_HOSTS:
        return False
    for segment in parts.path.split("/"):
        ref = segment.rsplit("@", 1)[-1]
        if _HEX40.match(ref.lower()):
            return True
    return False


_CURL_SHORT_VALUE = frozenset("AbcCdDeEFHKmoPQrtTuUwxXyYz")
_CURL_LONG_VALUE = word_set(
    "--output --user-agent --cookie --cookie-jar --continue-at --data --data-ascii "
    "--data-binary --data-raw --data-urlencode --dump-header --referer --cert --form "
    "--form-string --header --config --max-time --quote --range --upload-file --user "
    "--proxy-user --write-out --proxy --request --speed-limit --speed-time --time-cond "
    "--retry --retry-delay --retry-max-time --connect-timeout --output-dir --cacert "
    "--capath --key --proto --proto-redir --resolve --max-filesize --limit-rate "
    "--interface --netrc-file --oauth2-bearer --json --variable --tls-max --max-redirs "
    "--connect-to --unix-socket --pinnedpubkey --url --ciphers --dns-servers "
    "--expect100-timeout --keepalive-time --local-port --happy-eyeballs-timeout-ms"
)
_WGET_SHORT_VALUE = frozenset("OoaPtTwUeiBlARDQXI")
_WGET_LONG_VALUE = word_set(
    "--output-document --output-file --append-output --directory-prefix --tries --timeout "
    "--wait --user-agent --execute --input-file --base --level --accept --reject "
    "--domains --header --user --password --post-data --post-file --referer "
    "--load-cookies --save-cookies --ca-certificate --certificate --private-key --quota "
    "--limit-rate --method --body-data --body-file --http-user --http-password "
    "--dns-timeout --connect-timeout --read-timeout --waitretry --bind-address --progress "
    "--ca-directory"
)
_Options = list[tuple[str, Arg]]
_Found = tuple[Arg | None, str | None] | None
"""The URL argument and the file written (None: standard output); None when not a download."""


def _options_and_operands(
    rest: Sequence[Arg], short_values: frozenset[str], long_values: frozenset[str]
) -> tuple[_Options, list[Arg]]:
    """Options (``-o`` as ``o``, ``--output`` as itself) with values, and operands."""
    options: _Options = []
    operands: list[Arg] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        if text == "--":
            operands.extend(rest[index:])
            break
        if text.startswith("--"):
            written, eq, value = text.partition("=")
            if written in long_values:
                if eq:
                    options.append((written, retext(arg, value)))
                elif index < len(rest):
                    options.append((written, rest[index]))
                    index += 1
            else:
                options.append((written, retext(arg, "")))
            continue
        if text.startswith("-") and len(text) > 1:
            for position in range(1, len(text)):
                letter = text[position]
                if letter in short_values:
                    attached = text[position + 1 :]
                    if attached:
                        options.append((letter, retext(arg, attached)))
                    elif index < len(rest):
                        options.append((letter, rest[index]))
                        index += 1
                    break
                options.append((letter, retext(arg, "")))
            continue
        operands.append(arg)
    return options, operands


def _value(options: _Options, *names: str) -> str | None:
    return next((v.text for o, v in options if o in names), None)


def _url_basename(url: str) -> str:
    try:
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    except ValueError:
        return ""
    return path.rstrip("/").rsplit("/", 1)[-1] if path.rstrip("/") else ""


def _curl(rest: list[Arg], redirect_out: str | None) -> _Found:
    options, operands = _options_and_operands(rest, _CURL_SHORT_VALUE, _CURL_LONG_VALUE)
    flags = {o for o, _ in options}
    if flags & {"--version", "V", "--help", "h"}:
        return None
    urls = [*operands] + [v for o, v in options if o == "--url"]
    url = urls[0] if urls else None
    output = _value(options, "o", "--output")
    if output == "-":
        output = None
    if output is None and flags & {"O", "--remote-name", "--remote-name-all"} and url:
        output = _url_basename(url.text)
    directory = _value(options, "--output-dir")
    if output and directory and not output.startswith("/"):
        output = f"{directory.rstrip('/')}/{output}"
    return url, output or redirect_out


def _wget(rest: list[Arg], redirect_out: str | None) -> _Found:
    options, operands = _options_and_operands(rest, _WGET_SHORT_VALUE, _WGET_LONG_VALUE)
    flags = {o for o, _ in options}
    if flags & {"--version", "V", "--help", "h", "--spider"}:
        return None
    candidates = [a for a in operands if a.text != "-"]
    url = next((a for a in candidates if "://" in a.text), candidates[0] if candidates else None)
    document = _value(options, "O", "--output-document")
    if document is not None:
        return url, None if document == "-" else document
    base = (_url_basename(url.text) if url else "") or "index.html"
    prefix = _value(options, "P", "--directory-prefix")
    return url, redirect_out or (f"{prefix.rstrip('/')}/{base}" if prefix else base)


def _bucket_copy(rest: list[Arg], redirect_out: str | None) -> _Found:
    """``aws s3 cp s3://...``, ``gsutil cp gs://...``, ``gcloud storage cp gs://...``."""
    operands = [a for a in rest if not a.text.startswith("-")]
    sources = [a for a in operands if a.text.startswith(("s3://", "gs://"))]
    if not sources:
        return None
    url = sources[0]
    after = operands[operands.index(url) + 1 :]
    if not after:
        return None
    target = after[-1].text
    if target.endswith("/") or target == ".":
        return url, f"{target.rstrip('/')}/{_url_basename(url.text)}"
    return url, target


_READERS: dict[str, Callable[[list[Arg], str | None], _Found]] = {
    "curl": _curl,
    "wget": _wget,
    **dict.fromkeys(("aws", "gsutil", "gcloud"), _bucket_copy),
}


def _redirected_output(command: Command) -> str | None:
    target = next(
        (
            r.target.text
            for r in command.redirects
            if r.op in {">", ">>", ">|", "&>", "&>>"} and r.target is not None
        ),
        None,
    )
    return None if target in {"/dev/null", "/dev/stderr"} else target


def _parse_fetch(analyzer: Analyzer, name: str, rest: list[Arg], command: Command) -> Fetch | None:
    """The download ``name rest...`` performs, or None when it is not one."""
    reader = _READERS.get(name)
    found = reader(rest, _redirected_output(command)) if reader is not None else None
    if found is None:
        return None
    url, output = found
    line = analyzer.line_of(url.word) if url else analyzer.geometry.line(command.line)
    column = analyzer.at(url.word).column if url else 1
    return Fetch(url=url.text if url else "", line=line, column=column, output=output)


def _remote_in(analyzer: Analyzer, word: Word) -> bool:
    """RP105 when ``$(...)``/``<(...)`` in ``word`` downloads to standard output (the text run
    is a remote script); True when it does."""
    for script in word.subs:
        for pipeline in script.pipelines:
            for command in pipeline.commands:
                fetch = _peek_fetch(analyzer, command)
                if fetch is not None and fetch.output is None:
                    _remote_script(analyzer, fetch)
                    return True
    return False


def _peek_fetch(analyzer: Analyzer, command: Command) -> Fetch | None:
    if not command.words:
        return None
    args = analyzer.strip_wrappers(analyzer.expand(command.words), [])
    if not args:
        return None
    return _parse_fetch(analyzer, command_name(args[0]), args[1:], command)


def _norm_path(text: str) -> str:
    path = text.strip()
    while path.startswith("./"):
        path = path[2:]
    if path:
        path = posixpath.normpath(path)
    return path


def _same_file(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    if "/" not in a or "/" not in b:
        return posixpath.basename(a) == posixpath.basename(b)
    return False


def _record_download(analyzer: Analyzer, fetch: Fetch) -> None:
    if fetch.output is None:
        return
    path = _norm_path(fetch.output)
    analyzer.downloads = [d for d in analyzer.downloads if d.path != path]
    analyzer.downloads.append(
        Download(path=path, url=fetch.url, line=fetch.line, column=fetch.column)
    )


def take_download(analyzer: Analyzer, written: str) -> Download | None:
    """The unchecked download a file argument names, no longer pending: it is used now."""
    path = _norm_path(written)
    for download in reversed(analyzer.downloads):
        if _same_file(download.path, path):
            analyzer.downloads.remove(download)
            return download
    return None


def _on_path(analyzer: Analyzer, name: str) -> bool:
    """A bare command name that resolves to a file downloaded into a ``PATH`` directory."""
    return any(
        posixpath.dirname(d.path) in _PATH_DIRS and posixpath.basename(d.path) == name
        for d in analyzer.downloads
    )


def _remote_script(analyzer: Analyzer, fetch: Fetch) -> None:
    """RP105: the output of ``fetch`` runs as a script."""
    if immutable_url(fetch.url):
        return
    subject = fetch.url or "remote script"
    message = f"remote script {fetch.url or '(no URL)'} runs without a hash check"
    location = analyzer.source.at(fetch.line, fetch.column)
    analyzer.findings.append(finding("RP105", message, location, subject=subject, fix=SCRIPT_FIX))


def _executed(analyzer: Analyzer, arg: Arg) -> None:
    """RP105 when the file ``arg`` runs is an unchecked download."""
    download = take_download(analyzer, arg.text)
    if download is None or immutable_url(download.url):
        return
    where = download.url or download.path
    message = f"remote script {where} runs without a hash check"
    if download.line != analyzer.line_of(arg.word):
        message = (
            f"remote script {where} (downloaded on line {download.line}) runs without a hash check"
        )
    analyzer.findings.append(
        finding("RP105", message, analyzer.at(arg.word), subject=where, fix=SCRIPT_FIX)
    )


def system_path(path: str) -> bool:
    """True for an absolute path under a system directory (``/usr/local/bin``, ``/opt/x``)."""
    clean = posixpath.normpath(path) if path.startswith("/") else ""
    return any(clean == d or clean.startswith(d + "/") for d in _SYSTEM_DIRS)


def _qualities(url: str) -> str:
    """What makes a download worse than unchecked: plain HTTP, a URL that follows releases."""
    notes: list[str] = []
    if url.lower().startswith(("http://", "ftp://")):
        notes.append("over plain HTTP, so anyone on the network path can replace it")
    if _FLOATING_URL.search(url):
        notes.append("from a URL that moves to each new release")
    return f" ({'; '.join(notes)})" if notes else ""


def report_install(analyzer: Analyzer, download: Download, how: str, line: int) -> None:
    """RP105 at the download: it is ``how`` (``installed by dpkg -i``) on ``line`` unchecked."""
    if immutable_url(download.url):
        return
    where = download.url or download.path
    at = "" if line == download.line else f" on line {line}"
    message = f"{where} is {how}{at} without a checksum{_qualities(download.url)}"
    location = analyzer.source.at(download.line, download.column)
    analyzer.findings.append(finding("RP105", message, location, subject=where, fix=INSTALL_FIX))


def installed(analyzer: Analyzer, arg: Arg, how: str) -> None:
    """RP105 when ``arg`` names an unchecked download that a command installs."""
    download = take_download(analyzer, arg.text)
    if download is not None:
        report_install(analyzer, download, how, analyzer.line_of(arg.word))


def _piped_install(analyzer: Analyzer, call: Call, how: str) -> None:
    """``curl URL | tar -x -C /usr/local/bin``: what the pipe hands on is unpacked unchecked."""
    fetched = next((o.fetch for o in reversed(call.upstream) if o.fetch), None)
    if fetched is None or fetched.output is not None:
        return
    download = Download(path="", url=fetched.url, line=fetched.line, column=fetched.column)
    report_install(analyzer, download, how, fetched.line)


def _verified(analyzer: Analyzer, names: Sequence[str], *, everything: bool = True) -> None:
    """The files ``names`` are checked; when none of them is a download, a check whose list
    cannot be read (``sha256sum -c SUMS``) is taken to cover every download."""
    matched = [
        d for d in analyzer.downloads if any(_same_file(d.path, _norm_path(n)) for n in names)
    ]
    if matched:
        analyzer.downloads = [d for d in analyzer.downloads if d not in matched]
    elif everything:
        analyzer.downloads = []


def _download(analyzer: Analyzer, call: Call) -> Outcome | None:
    fetch = _parse_fetch(analyzer, call.name, call.rest, call.command)
    if fetch is None:
        return None
    _record_download(analyzer, fetch)
    return Outcome(fetch=fetch)


def _tee(analyzer: Analyzer, call: Call) -> Outcome:
    fetched = next((o.fetch for o in reversed(call.upstream) if o.fetch), None)
    if fetched is not None:
        for arg in call.rest:
            if not arg.text.startswith("-"):
                _record_download(analyzer, replace(fetched, output=arg.text))
    return Outcome()


def _echo(analyzer: Analyzer, call: Call) -> Outcome:
    return Outcome(text=" ".join(a.text for a in call.rest))


def _checksum(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    check = any(
        a.text == "--check" or (a.text[:1] == "-" and a.text[1:2] != "-" and "c" in a.text)
        for a in rest
    )
    if check:
        listed: list[str] = []
        texts = [o.text for o in call.upstream if o.text]
        texts.extend(
            r.heredoc.body if r.heredoc else r.target.text
            for r in call.command.redirects
            if r.op in {"<<<", "<<", "<<-"} and r.target is not None
        )
        for text in texts:
            listed.extend(m.group(1) for m in _CHECKSUM_LINE.finditer(text))
        _verified(analyzer, listed)
    elif analyzer.substitution_depth > 0 or call.onward:
        # `[ "$(sha256sum f | cut -d' ' -f1)" = "$SUM" ]`, `sha256sum f | grep -q $SUM`
        operands = [a.text for a in rest if not a.text.startswith("-")]
        _verified(analyzer, operands, everything=False)


def _verify(analyzer: Analyzer, call: Call) -> None:
    _verified(analyzer, [a.text for a in call.rest])


def _gpg(analyzer: Analyzer, call: Call) -> None:
    if any(a.text == "--verify" for a in call.rest):
        _verify(analyzer, call)


def _run_file(analyzer: Analyzer, arg: Arg) -> None:
    """The interpreter runs the file ``arg`` names (or a process substitution)."""
    if arg.word.procsub == "<":
        _remote_in(analyzer, arg.word)
        return
    _executed(analyzer, arg)


def _run_string(analyzer: Analyzer, arg: Arg) -> None:
    if not _remote_in(analyzer, arg.word) and not arg.dynamic:
        analyzer.run_text(arg.text, arg.word)


def _reads_stdin(analyzer: Analyzer, call: Call, *, script: bool) -> None:
    """The interpreter runs whatever its standard input holds."""
    for redirect in call.command.redirects:
        if redirect.heredoc is not None and script:
            doc = redirect.heredoc
            analyzer.run(parse(doc.body, [], line_base=doc.line, col_base=doc.column))
            return
        if redirect.op == "<" and redirect.target is not None:
            _run_file(analyzer, Arg(text=redirect.target.text, word=redirect.target, dynamic=False))
            return
        if redirect.op == "<<<" and redirect.target is not None:
            _remote_in(analyzer, redirect.target)
            return
    for outcome in call.upstream:
        if outcome.fetch is not None:
            _remote_script(analyzer, outcome.fetch)
            return


def _shell(analyzer: Analyzer, call: Call) -> None:
    """``sh [options] [-c TEXT | FILE | -s]``: a command string, a file, or standard input."""
    rest = call.rest
    command_mode = stdin_mode = False
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "--":
            index += 1
            break
        if text in {"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}:
            index += 2
            continue
        if text.startswith("--"):
            index += 1
            continue
        if len(text) > 1 and text[0] in "-+" and text != "-":
            flags = text[1:]
            command_mode |= text[0] == "-" and "c" in flags
            stdin_mode |= "s" in flags
            index += 2 if flags.endswith("o") else 1
            continue
        break
    operands = rest[index:]
    if command_mode:
        if operands:
            _run_string(analyzer, operands[0])
        return
    if operands and not stdin_mode and operands[0].text not in {"-", "/dev/stdin"}:
        _run_file(analyzer, operands[0])
        return
    _reads_stdin(analyzer, call, script=True)


def _busybox(analyzer: Analyzer, call: Call) -> None:
    if call.rest and command_name(call.rest[0]) in {"sh", "ash"}:
        _shell(analyzer, recall(call, rest=call.rest[1:]))


# `python -m MODULE` that runs an installer, judged as the installer's own command.
_INSTALLER_MODULES = frozenset({"pip", "uv", "pipx", "conda", "mamba"})


def _python(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "-m" or (text.startswith("-m") and len(text) > 2 and "=" not in text):
            attached = len(text) > 2
            module = (
                text[2:] if attached else (rest[index + 1].text if index + 1 < len(rest) else "")
            )
            after = rest[index + (1 if attached else 2) :]
            if module in _INSTALLER_MODULES:
                analyzer.handle(recall(call, name=module, rest=after))
            elif module in models.MODULES:
                models.run_module(analyzer, module, after)
            return
        if text.startswith("-c"):
            return
        if text in {"-W", "-X", "-Q"}:
            index += 2
            continue
        if text == "-" or not text.startswith("-") or text == "--":
            break
        index += 1
    operands = rest[index:]
    if operands and operands[0].text == "--":
        operands = operands[1:]
    if operands and operands[0].text != "-":
        _run_file(analyzer, operands[0])
        return
    _reads_stdin(analyzer, call, script=False)


def _interpreter(analyzer: Analyzer, call: Call) -> None:
    """``perl``/``ruby``/``node``...: inline code (``-e``) runs nothing we judge."""
    for arg in call.rest:
        if arg.text in {"-e", "-E", "-c", "-r"}:
            return
        if arg.text == "-":
            break
        if not arg.text.startswith("-"):
            _run_file(analyzer, arg)
            return
    _reads_stdin(analyzer, call, script=False)


def _source(analyzer: Analyzer, call: Call) -> None:
    if call.rest:
        _run_file(analyzer, call.rest[0])


def _eval(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    if any(_remote_in(analyzer, arg.word) for arg in rest):
        return
    if rest and not any(a.dynamic for a in rest):
        analyzer.run_text(" ".join(a.text for a in rest), rest[0].word)


def _su(analyzer: Analyzer, call: Call) -> None:
    rest = call.rest
    for index, arg in enumerate(rest):
        text = arg.text
        if text in {"-c", "--command"} and index + 1 < len(rest):
            _run_string(analyzer, rest[index + 1])
            return
        if text.startswith("--command="):
            _run_string(analyzer, retext(arg, text.split("=", 1)[1]))
            return
        if text == "--" and index + 1 < len(rest):
            analyzer.dispatch(rest[index + 1 :], call.command, call.upstream)
            return


_TAR_VALUES = word_set("-f --file -C --directory -T --files-from -X --exclude-from -b -H")


def _tar(analyzer: Analyzer, call: Call) -> None:
    """``tar -x[f FILE] [-C DIR]``: an archive unpacked into a system directory."""
    rest = call.rest
    extract = False
    archive: Arg | None = None
    directory = ""
    index = 0
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        option, eq, value = text.partition("=")
        if text.startswith("--"):
            extract |= option in {"--extract", "--get"}
            if option in {"--file", "--directory"}:
                target = retext(arg, value) if eq else (rest[index] if index < len(rest) else None)
                index += 0 if eq else 1
                if target is not None and option == "--file":
                    archive = target
                elif target is not None:
                    directory = target.text
            elif option in _TAR_VALUES and not eq:
                index += 1
            continue
        bundle = text[1:] if text.startswith("-") else (text if index == 1 else "")
        if not bundle or not bundle.isalpha():
            continue
        extract |= "x" in bundle
        for letter in bundle:
            if letter in "fCTXbH" and index < len(rest):
                if letter == "f":
                    archive = rest[index]
                elif letter == "C":
                    directory = rest[index].text
                index += 1
    if not extract or not system_path(directory):
        return
    how = f"unpacked into {directory} by tar"
    if archive is None or archive.text == "-":
        _piped_install(analyzer, call, how)
    else:
        installed(analyzer, archive, how)


def _unzip(analyzer: Analyzer, call: Call) -> None:
    """``unzip [options] FILE [members] -d DIR``: an archive unpacked into a system directory."""
    rest = call.rest
    archive: Arg | None = None
    directory = ""
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "-d" and index + 1 < len(rest):
            directory = rest[index + 1].text
            index += 2
            continue
        if text == "-x":
            break  # the rest are exclusions
        if text == "-P":
            index += 2
            continue
        if not text.startswith("-") and archive is None:
            archive = rest[index]
        index += 1
    if archive is not None and system_path(directory):
        installed(analyzer, archive, f"unpacked into {directory} by unzip")


_INSTALL_VALUES = word_set(
    "-o --owner -g --group -m --mode -t --target-directory -S --suffix -Z --context"
)


def _copy(analyzer: Analyzer, call: Call) -> None:
    """``install``/``cp``/``mv`` of a download into a system directory (``install kubectl
    /usr/local/bin/kubectl``); ``mv`` elsewhere keeps the download tracked under its new name."""
    operands: list[Arg] = []
    target = ""
    index = 0
    rest = call.rest
    while index < len(rest):
        text = rest[index].text
        option, eq, value = text.partition("=")
        if option in {"-t", "--target-directory"}:
            target = value if eq else (rest[index + 1].text if index + 1 < len(rest) else "")
            index += 1 if eq else 2
            continue
        if text.startswith("-") and text != "-":
            index += 2 if option in _INSTALL_VALUES and not eq else 1
            continue
        operands.append(rest[index])
        index += 1
    if not target:
        if len(operands) < 2:
            return
        target = operands.pop().text
    if system_path(target):
        for source in operands:
            installed(analyzer, source, f"installed into {target} by {call.name}")
    elif call.name == "mv" and len(operands) == 1:
        download = take_download(analyzer, operands[0].text)
        if download is not None:
            analyzer.downloads.append(replace(download, path=_norm_path(target)))


def _package_file(analyzer: Analyzer, call: Call) -> None:
    """``dpkg -i FILE``, ``rpm -i FILE``, ``gdebi FILE``: a package file installed as is."""
    if call.name in {"dpkg", "rpm"} and not any(
        a.text in {"-i", "--install", "-U", "--upgrade", "-F", "--freshen"}
        or (call.name == "rpm" and a.text.startswith(("-i", "-U")) and a.text[1:].isalpha())
        for a in call.rest
    ):
        return
    for arg in call.rest:
        if not arg.text.startswith("-"):
            installed(analyzer, arg, f"installed by {call.name}")


def run_program(analyzer: Analyzer, call: Call) -> None:
    """Any other program: a path (``./install.sh``) or a name on ``PATH`` may be a download."""
    if "/" in call.program.text or _on_path(analyzer, call.program.text):
        _executed(analyzer, call.program)


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(_READERS, _download),
    "tee": _tee,
    **dict.fromkeys(("echo", "printf"), _echo),
    **dict.fromkeys(_CHECKSUMS, _checksum),
    **dict.fromkeys(_VERIFIERS, _verify),
    "gpg": _gpg,
    **dict.fromkeys(("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh"), _shell),
    "busybox": _busybox,
    "python": _python,
    **dict.fromkeys(("perl", "ruby", "node", "php", "lua", "tclsh"), _interpreter),
    **dict.fromkeys(("source", "."), _source),
    "eval": _eval,
    **dict.fromkeys(("su", "runuser"), _su),
    "tar": _tar,
    "unzip": _unzip,
    **dict.fromkeys(("install", "cp", "mv"), _copy),
    **dict.fromkeys(("dpkg", "rpm", "gdebi"), _package_file),
}
"""Commands that download, check a download, or run text or a file as a script."""
