"""The documentation stays true: a current benchmarks page, working links and examples,
a short README, and no narration of how the code came to be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]

#: Words that narrate the project's history instead of describing the code. History
#: belongs in benchmarks/NOTES.md; the programme facts are in docs/domain.md.
FORBIDDEN = re.compile(r"session|probe|not kept|domain\.md|\bthe issue\b", re.IGNORECASE)
#: Legitimate uses, removed before the search. ``WARM_PROBE`` is a constant of
#: matcher/solvers/core.py (paths after which a warm start projects its work);
#: docs/domain.md is the programme page itself, linked from the other pages.
ALLOWED = re.compile(r"WARM_PROBE|(?<![\w/])(?:\.\./)*domain\.md|docs/domain\.md")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        slug, n = _slug(heading), 1
        while slug in found:
            slug, n = f"{_slug(heading)}-{n}", n + 1
        found.add(slug)
    return found


def test_benchmarks_page_is_current() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("run dates come from git history")
    from benchmarks.docs_page import PAGE, render

    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/benchmarks.md is out of date: run python -m benchmarks.docs_page"
    )


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move details into docs/"


def test_docs_pages_exist() -> None:
    names = {_rel(p) for p in DOCS}
    for page in (
        "index", "user-guide", "policy", "domain", "benchmarks",
        "methods/welfare-core", "methods/lagrangian", "methods/mip-cpsat",
        "methods/stable", "methods/transfer",
    ):  # fmt: skip
        assert f"docs/{page}.md" in names


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
    assert not broken, f"{_rel(page)}: " + "; ".join(broken)


def _narration(path: Path) -> list[str]:
    hits = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FORBIDDEN.search(ALLOWED.sub("", line))
        if match:
            hits.append(f"{_rel(path)}:{n}: {match.group(0)!r}: {line.strip()[:100]}")
    return hits


def test_no_narration() -> None:
    files = [*PAGES, *sorted((ROOT / "matcher").rglob("*.py"))]
    hits = [hit for path in files for hit in _narration(path)]
    assert not hits, "say what the code does, not how it came to be:\n" + "\n".join(hits)


def test_docs_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every ```python block of docs/ runs, and its ``# expected`` comments are printed."""
    (tmp_path / "instances").symlink_to(ROOT / "instances")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for page in DOCS:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            exec(compile(block, _rel(page), "exec"), {})
            out = capsys.readouterr().out.splitlines()
            printed = [ln for ln in block.splitlines() if ln.startswith("print(") and "# " in ln]
            assert len(out) >= len(printed), _rel(page)
            expected = [ln.rsplit("# ", 1)[1].strip() for ln in printed]
            for want in expected:
                assert any(line.strip() == want for line in out), f"{_rel(page)}: {want!r} not in {out}"
            ran += 1
    assert ran >= 2
