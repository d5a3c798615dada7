"""Output directories that never cost a user a file.

Rules, in the order they are checked (:func:`check_output_dir`):

1. ``OUT`` may not be the current directory or one that contains it, nor the instance
   (or policy) that is being read, nor a directory that contains it.
2. A directory that exists is replaced only when it is empty, or when it is an earlier
   matcher output *of the same kind* (``result``, ``transfer`` or ``instance``),
   recognised by the marker file :data:`MARKER` that matcher writes into every output,
   and holds nothing but the files that marker lists.
3. A run that did not succeed never replaces an earlier successful output
   (:class:`~matcher.errors.OutputError`; the earlier files stay as they were).

Writing goes to a temporary sibling directory created with the user's umask, which is
renamed into place only when every file is written. A temporary directory left by a run
that was killed is removed by the next run that writes beside it (or, when the
earlier output had already been moved aside, that output is put back first).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, Literal

from matcher._version import __version__
from matcher.errors import OutputError

log = logging.getLogger("matcher")

Kind = Literal["result", "transfer", "instance"]
#: The file that marks a directory as matcher's output; it lists what matcher wrote.
MARKER: Final = ".matcher-output.json"
_TMP = "matcher-tmp"
_OLD = "matcher-old"
_AUX = re.compile(rf"^\.(?P<name>.+)\.(?P<what>{_TMP}|{_OLD})-(?P<pid>\d+)-[0-9a-f]+$")


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The marker of an earlier output in ``directory``, or None if it has none."""
    file = directory / MARKER
    if not file.is_file():
        return None
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list) or "kind" not in doc:
        return None
    return doc


def check_output_dir(
    out: str | Path, kind: Kind, *, protect: Iterable[str | Path] = ()
) -> dict[str, Any] | None:
    """Raise :class:`OutputError` unless ``out`` may receive a ``kind`` output.

    ``protect`` names inputs (instance directory, policy file) that the output may
    neither be nor contain. Returns the marker of the earlier output that would be
    replaced (None when there is none).
    """
    target = Path(out).resolve()
    shown = str(out)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{shown} exists and is not a directory")
    if _within(Path.cwd().resolve(), target):
        raise OutputError(
            f"{shown} is the current directory or contains it: give a directory of its own (e.g. out/run1)"
        )
    for p in protect:
        source = Path(p).resolve()
        if _within(source, target):
            what = "is" if source == target else "contains"
            raise OutputError(f"{shown} {what} the input {p}: choose another directory for the outputs")
    if not target.is_dir():
        return None
    entries = sorted(e.name for e in target.iterdir())
    if not entries:
        return None
    marker = read_marker(target)
    if marker is None:
        listed = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise OutputError(
            f"{shown} is not empty ({listed}) and is no earlier matcher output: matcher replaces "
            "only an empty directory or one it wrote itself; choose another directory or empty it"
        )
    if marker["kind"] != kind:
        raise OutputError(
            f"{shown} holds a matcher {marker['kind']} output, not {_article(kind)} {kind} output: "
            "choose another directory"
        )
    foreign = sorted(set(entries) - {*map(str, marker["files"]), MARKER})
    if foreign:
        raise OutputError(
            f"{shown} holds files matcher did not write ({', '.join(foreign[:5])}"
            + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            + "): move them away or choose another directory"
        )
    return marker


def write_output(
    out: str | Path,
    kind: Kind,
    writer: Callable[[Path], None],
    *,
    success: bool = True,
    protect: Iterable[str | Path] = (),
) -> Path:
    """Run ``writer(tmpdir)``, mark the directory, then move it to ``out`` atomically.

    Raises
    ------
    OutputError
        If ``out`` may not be replaced (see the module docstring), or if this output is
        of an unsuccessful run and ``out`` holds a successful one; nothing is touched.
    """
    target = Path(out).resolve()
    protect = list(protect)
    _clean_stale(target)
    previous = check_output_dir(out, kind, protect=protect)
    if not success and previous is not None and previous.get("success", False):
        raise OutputError(
            f"{out} holds an earlier successful {kind}; this run did not succeed and does not "
            "replace it (the earlier files are unchanged)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{_TMP}-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(mode=0o777)  # the user's umask applies, as to any file they create
    try:
        writer(tmp)
        files = sorted(e.name for e in tmp.iterdir())
        doc = {"kind": kind, "success": success, "matcher_version": __version__, "files": files}
        (tmp / MARKER).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        # Checked again right before the swap: the directory may have changed meanwhile.
        check_output_dir(out, kind, protect=protect)
        if target.exists():
            old = target.with_name(f".{target.name}.{_OLD}-{os.getpid()}-{secrets.token_hex(4)}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(target: Path) -> None:
    """Remove what a killed run left beside ``target``; put back an output it moved aside."""
    parent = target.parent
    if not parent.is_dir():
        return
    stale: list[tuple[str, Path]] = []
    for entry in parent.iterdir():
        m = _AUX.match(entry.name)
        if m is None or m["name"] != target.name or not entry.is_dir() or _alive(int(m["pid"])):
            continue
        stale.append((m["what"], entry))
    olds = sorted(p for what, p in stale if what == _OLD and read_marker(p) is not None)
    if not target.exists() and len(olds) == 1:
        olds[0].rename(target)
        log.warning("put back the earlier output %s that an interrupted run had moved aside", target)
        stale = [(w, p) for w, p in stale if p != olds[0]]
    for _, path in sorted(stale):
        with contextlib.suppress(OSError):
            shutil.rmtree(path)
        log.warning("removed %s, left by an interrupted run", path)
