"""The repository explains itself: every document it points to is in the repository.

Scans the text of the code, tests, notebooks (cell sources), docs, README, CONTRIBUTING, Makefile, the
profiles and the small shipped data files, and fails on

* a path outside the repository (the team's reference folder beside the clone, see `OUTSIDE`) or a paper
  file name (papers are cited by title, authors and venue; see ``docs/README.md#papers``);
* a Markdown file name (``NOTES.md``, ``docs/x.md``, ``CONTRIBUTING.md`` …) that exists neither at the
  repository root nor next to the file that names it;
* a ``docs/x.md §N`` reference whose section ``§N`` is not a heading of that page, and a ``docs/x.md "Name"``
  reference whose quoted name does not occur in it;
* a Markdown link ``[text](path.md#anchor)`` whose file or heading anchor does not exist.
"""

# rewrite_refs: skip-file (this test quotes the forbidden patterns on purpose)
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".csv", ".txt", ".json"}
TEXT_NAMES = {"Makefile"}
SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "outputs",
    "__pycache__",
    ".ipynb_checkpoints",
    "node_modules",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "build",
    "dist",
}

OUTSIDE = re.compile(
    r"\.\./shared\b|/work/shared\b|\bshared/papers\b|\bpapers/\d{3}_"
    r"|(?<![\w/])\d{3}_[0-9a-f]{16}\.txt|(?<![\w/])00\d_(?:…|\*|\.\.\.)"
    r"|\b(?:METHODS|DESIGN|DATASETS|ALGORITHMS)\s+§"  # the team's documents by their short names
)
MD_FILE = re.compile(r"(?<![\w./-])((?:\.\./|\./)*(?:[\w.-]+/)*[\w-][\w.-]*\.md)(?![\w/-])")
SECTION_REF = re.compile(
    r"(?<![\w./-])(?P<path>(?:\.\./)*docs/[\w-]+\.md)[,:]?\s*(?P<refs>§\s?\d+(?:\.\d+)*"
    r"(?:\s*(?:[-–]|,|and)\s*§?\s?\d+(?:\.\d+)*(?![\w.]))*)"
)
QUOTED_REF = re.compile(
    r"(?<![\w./-])(?P<path>(?:\.\./)*docs/[\w-]+\.md)(?P<gap>[^\"\n]{0,25}?)\"(?P<name>[^\"\n]{3,60})\""
)
LINK = re.compile(r"\]\((?P<target>[^)\s#]*\.md)(?:#(?P<anchor>[^)\s]+))?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
SECTION_NUMBER = re.compile(r"^§(\d+(?:\.\d+)*)\b")


def _repo_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        parts = here.relative_to(root).parts
        keep = []
        for d in dirnames:
            if d in SKIP_DIRS or d.endswith(".egg-info"):
                continue
            if parts == ("data",) and d != "prompts":  # datasets live in the other data/ folders
                continue
            keep.append(d)
        dirnames[:] = sorted(keep)
        for name in sorted(filenames):
            path = here / name
            if (path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES) and path.resolve() != THIS:
                yield path


def _text_lines(path: Path) -> list[tuple[str, str]]:
    """(location, line) pairs; a notebook contributes its cell sources only (outputs are not committed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []
    rel = path.relative_to(REPO).as_posix()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except json.JSONDecodeError:
            return [(rel, line) for line in text.splitlines()]
        out = []
        for c, cell in enumerate(cells):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            out.extend((f"{rel}[cell {c}]:{n}", line) for n, line in enumerate(src.splitlines(), start=1))
        return out
    return [(f"{rel}:{n}", line) for n, line in enumerate(text.splitlines(), start=1)]


def _all_lines() -> list[tuple[Path, str, str]]:
    return [(p, loc, line) for p in _repo_files(REPO) for loc, line in _text_lines(p)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # headings inside code blocks do not count
    return [m.group(2) for m in HEADING.finditer(text)]


def sections_of(doc: Path) -> set[str]:
    """Section numbers of a docs page: the `§N` / `§N.M` that start its headings."""
    found = set()
    for heading in _headings(doc):
        m = SECTION_NUMBER.match(heading)
        if m:
            found.add(m.group(1))
    return found


def anchors_of(doc: Path) -> set[str]:
    slugs: set[str] = set()
    counts: dict[str, int] = {}
    for heading in _headings(doc):
        slug = github_slug(heading)
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        slugs.add(slug if n == 0 else f"{slug}-{n}")
    return slugs


def _resolve(md: str, source: Path) -> Path | None:
    """A Markdown path as written in `source`: relative to the repository root or to the source's folder."""
    for base in (REPO, source.parent):
        candidate = (base / md).resolve()
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------------------------ checks


def find_outside_references(lines: list[tuple[Path, str, str]]) -> list[str]:
    return [
        f"{loc}: {m.group(0)!r} in {line.strip()[:120]!r}"
        for _, loc, line in lines
        for m in OUTSIDE.finditer(line)
    ]


def find_missing_markdown_files(lines: list[tuple[Path, str, str]]) -> list[str]:
    bad = []
    for path, loc, line in lines:
        for m in MD_FILE.finditer(line):
            token = line[line.rfind(" ", 0, m.start()) + 1 : m.end()]
            if "://" in token:
                continue  # part of a URL
            if _resolve(m.group(1), path) is None:
                bad.append(f"{loc}: {m.group(1)!r} is not a file of the repository")
    return bad


def _section_numbers(refs: str) -> list[str]:
    """Every number named in a reference list: `§1.9, §2.5` → 1.9, 2.5; `§2–4` → 2, 4; `§1-§5` → 1, 5."""
    return re.findall(r"\d+(?:\.\d+)*", refs)


def find_bad_section_references(lines: list[tuple[Path, str, str]]) -> list[str]:
    bad = []
    cache: dict[Path, set[str]] = {}
    for path, loc, line in lines:
        for m in SECTION_REF.finditer(line):
            doc = _resolve(m["path"], path)
            if doc is None:
                bad.append(f"{loc}: {m['path']} does not exist")
                continue
            sections = cache.setdefault(doc, sections_of(doc))
            for number in _section_numbers(m["refs"]):
                if number not in sections:
                    bad.append(f"{loc}: {m['path']} has no section §{number} (it has {sorted(sections)})")
    return bad


def find_bad_quoted_references(lines: list[tuple[Path, str, str]]) -> list[str]:
    bad = []
    for path, loc, line in lines:
        for m in QUOTED_REF.finditer(line):
            if "docs/" in m["gap"] or "(" in m["gap"] or ")" in m["gap"]:
                continue
            doc = _resolve(m["path"], path)
            if doc is None:
                bad.append(f"{loc}: {m['path']} does not exist")
            elif m["name"].lower() not in doc.read_text(encoding="utf-8").lower():
                bad.append(f"{loc}: {m['path']} never mentions {m['name']!r}")
    return bad


def find_broken_links(lines: list[tuple[Path, str, str]]) -> list[str]:
    bad = []
    for path, loc, line in lines:
        for m in LINK.finditer(line):
            target = m["target"]
            if "://" in target:
                continue
            doc = (path.parent / target).resolve()
            if not doc.is_file():
                bad.append(f"{loc}: link target {target!r} does not exist (relative to {path.parent.name}/)")
            elif m["anchor"] and m["anchor"] not in anchors_of(doc):
                bad.append(f"{loc}: {target} has no heading with anchor #{m['anchor']}")
    return bad


@pytest.fixture(scope="module")
def lines() -> list[tuple[Path, str, str]]:
    found = _all_lines()
    assert any(loc.startswith("fervlm/") for _, loc, _ in found), "the scan found no package files"
    return found


def test_no_references_outside_the_repository(lines) -> None:
    bad = find_outside_references(lines)
    assert not bad, "references to files outside the repository:\n" + "\n".join(bad)


def test_every_named_markdown_file_exists(lines) -> None:
    bad = find_missing_markdown_files(lines)
    assert not bad, "Markdown files named but not in the repository:\n" + "\n".join(bad)


def test_section_references_name_existing_sections(lines) -> None:
    bad = find_bad_section_references(lines) + find_bad_quoted_references(lines)
    assert not bad, "references to sections the docs do not have:\n" + "\n".join(bad)


def test_markdown_links_and_anchors_resolve(lines) -> None:
    bad = find_broken_links(lines)
    assert not bad, "broken Markdown links:\n" + "\n".join(bad)


def test_the_docs_pages_exist_and_are_numbered() -> None:
    for name in ("methods", "design", "datasets", "algorithms"):
        doc = REPO / "docs" / f"{name}.md"
        assert doc.is_file(), f"{doc} is missing"
        assert "1" in sections_of(doc), f"{doc}: no '§1' heading"
    assert "papers" in anchors_of(REPO / "docs" / "README.md")


def test_the_checks_catch_bad_references(tmp_path: Path) -> None:
    """The scanners flag what they must (so a green run means something)."""
    fake = REPO / "docs" / "README.md"  # any existing file: relative paths resolve against its folder
    bad = [
        (fake, "x.py:1", "see NOTES.md §3 and ../shared/PLAN.md"),
        (fake, "x.py:2", "(AffectVLM, `shared/papers/002_…`, Table IV; MultiviewVLM, `000_…`)"),
        (fake, "x.py:3", "docs/methods.md §9 eq. 1 and docs/datasets.md §1.3, §4.99"),
        (fake, "x.py:4", 'docs/design.md "No such paragraph"'),
        (fake, "x.py:5", "[m](methods.md#no-such-anchor) [n](nothing.md)"),
        (fake, "x.py:6", "MultiviewVLM total (eq. 1-8, METHODS §3)"),
    ]
    good = [
        (fake, "y.py:1", "docs/methods.md §3 eq. 1-3; docs/datasets.md §1.9, §2.5; docs/datasets.md §1-§5"),
        (fake, "y.py:2", 'docs/design.md "Run folders" and [p](README.md#papers) and README.md'),
    ]
    outside = find_outside_references(bad)
    assert {e.split(":")[1] for e in outside} == {"1", "2", "6"} and any("000_…" in e for e in outside)
    assert {b.split(":")[1] for b in find_missing_markdown_files(bad)} >= {"1", "5"}
    section_errors = find_bad_section_references(bad)
    assert any("§9" in e for e in section_errors) and any("§4.99" in e for e in section_errors)
    assert not any("§1.3" in e for e in section_errors)
    assert len(find_bad_quoted_references(bad)) == 1
    assert len(find_broken_links(bad)) == 2
    for check in (
        find_outside_references,
        find_missing_markdown_files,
        find_bad_section_references,
        find_bad_quoted_references,
        find_broken_links,
    ):
        assert check(good) == [], check.__name__
