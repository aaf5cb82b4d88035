"""The docs point at things that exist: links, paths, and the names their code imports."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
CODE = [*sorted(p for top in ("actors", "supervisor", "stanchion", "examples", "benchmarks",
                             "tests") for p in (ROOT / top).rglob("*.py")), ROOT / "demo.py"]
# A repository path mentioned in prose, a docstring or a comment.
PATH = re.compile(r"(?<![\w./-])((?:docs|tests|benchmarks|actors|examples|supervisor|stanchion)"
                  r"/[\w./-]*\w(?:\.py|\.md|/))")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_link_resolves(page: Path) -> None:
    text = page.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve()
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = {_anchor(h) for h in re.findall(r"^#+ (.*)$", resolved.read_text(), re.M)}
            if anchor not in headings:
                broken.append(target)
    assert not broken, broken


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("source", [*PAGES, *CODE], ids=_name)
def test_every_repository_path_mentioned_exists(source: Path) -> None:
    missing = sorted({path for path in PATH.findall(source.read_text())
                      if not (ROOT / path).exists() and "*" not in path})
    assert not missing, missing


def _imports_in_python_blocks(page: Path) -> list[tuple[str, str]]:
    found = []
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [(node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_the_names_code_blocks_import_exist(page: Path) -> None:
    missing = []
    for module, name in _imports_in_python_blocks(page):
        if module.split(".")[0] not in ("actors", "supervisor", "stanchion", "examples"):
            continue
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"from {module} import {name}: {exc}")
    assert not missing, "\n".join(missing)


# -- the docs run as written (issue 13) ---------------------------------------------------------
# conftest.py runs every ```python block of these pages with Sybil, each block on its own; a
# block that cannot run alone is marked `<!-- skip: next "fragment: why" -->` just above it.

SKIP = re.compile(r"<!-- skip: (\S+)(.*?)-->")


def test_make_test_runs_the_python_blocks_of_every_page() -> None:
    import tomllib  # noqa: PLC0415

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert {"README.md", "docs"} <= set(options["ini_options"]["testpaths"])
    assert "Sybil(" in (ROOT / "conftest.py").read_text()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_python_block_is_run_or_marked_a_fragment(page: Path) -> None:
    from sybil import Document  # noqa: PLC0415
    from sybil.parsers.markdown import CodeBlockParser, SkipParser  # noqa: PLC0415

    text = page.read_text()
    fences = len(re.findall(r"^\s*```python\s*$", text, re.M))
    document = Document(text, str(page))
    found = list(CodeBlockParser("python", lambda _: None)(document))
    assert len(found) == fences, "a ```python block the doc tests would not see"
    skips = list(SkipParser()(document))
    for action, reason in SKIP.findall(text):
        assert action == "next", "skip only the next block, never a whole section"
        assert re.fullmatch(r' "fragment: [^"]+" ', reason), f"say why: {reason!r}"
    assert len(skips) == len(SKIP.findall(text))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_page_points_at_a_private_address_or_a_root_only_path(page: Path) -> None:
    text = page.read_text()
    assert not re.findall(r"\b(?:10\.\d+|192\.168|172\.(?:1[6-9]|2\d|3[01]))\.\d+\.\d+", text)
    assert "/var/lib" not in text


def test_the_sms_detail_values_named_are_ones_the_code_writes() -> None:
    for page in ("docs/sms.md", "docs/logs.md"):
        for value in re.findall(r"`(http_\w+)`", (ROOT / page).read_text()):
            assert re.fullmatch(r"http_\d{3}", value), f"{page}: {value} is never written"
