"""The documentation in docs/: generated where it can be, runnable where it shows code.

- ``docs/layers.md`` is what ``docs/make_layers.py`` writes from the contracts today;
- every ``docs/<page>#<anchor>`` named by the package, the README or a page exists;
- every key of the study file's models is documented in ``docs/study-file.md``, with its
  default where one is shown;
- every exit code of the CLI is in ``docs/cli.md``;
- every Python example of ``docs/own-data.md`` runs from the repository's folder and prints
  the text shown under it;
- nothing refers to a file outside the repository.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import warnings
from pathlib import Path

import pytest

from geoplan.cli import EXIT_CODES
from geoplan.study.config import (
    BoundarySection,
    ComputeSection,
    LayerConfig,
    MapSection,
    NetworkConfig,
    NumberingSection,
    OutputSection,
    PostgisOutput,
    SitingSection,
    SitingTypeSection,
    StandardsSection,
    StudyConfig,
    StudySection,
    TableConfig,
    TypesSection,
    WalkingSection,
)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
sys.path.insert(0, str(DOCS))
import make_layers  # noqa: E402

REFERENCE = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
LINK = re.compile(r"\]\(([\w-]+\.md)?(?:#([\w-]+))?\)")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    return set(re.findall(r'<a id="([\w-]+)"></a>', text))


def test_layers_page_is_what_the_contracts_say():
    committed = (DOCS / "layers.md").read_text(encoding="utf-8")
    assert committed == make_layers.render(), "run: python docs/make_layers.py"
    assert set(make_layers.KINDS) == set(make_layers.LAYER_CONTRACTS)


def _references() -> list[tuple[str, str, str | None]]:
    found = []
    sources = [*sorted((REPO / "geoplan").rglob("*.py")), REPO / "README.md"]
    for path in sources:
        for page, anchor in REFERENCE.findall(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(REPO)), page, anchor or None))
    for path in sorted(DOCS.glob("*.md")):
        for page, anchor in LINK.findall(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(REPO)), page or path.name, anchor or None))
    return found


def test_every_docs_reference_exists():
    references = _references()
    assert len(references) > 40
    broken = [f"{where}: docs/{page}#{anchor}" for where, page, anchor in references
              if not (DOCS / page).is_file()
              or (anchor is not None and anchor not in _anchors(DOCS / page))]
    assert broken == []


def test_layer_errors_point_to_their_kind():
    pages = {anchor for _, page, anchor in _references() if page == "layers.md"}
    assert set(make_layers.KINDS) <= _anchors(DOCS / "layers.md")
    assert "coordinates" in pages


def test_the_readme_links_every_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in sorted(DOCS.glob("*.md")):
        assert f"docs/{page.name}" in readme, page.name


SECTIONS = {
    "study": StudySection, "walking": WalkingSection, "standards": StandardsSection,
    "siting": SitingSection, "siting-types": SitingTypeSection, "boundary": BoundarySection,
    "map": MapSection, "types": TypesSection, "layers": LayerConfig, "tables": TableConfig,
    "network": NetworkConfig, "compute": ComputeSection, "output": OutputSection,
    "output-postgis": PostgisOutput,
}


def _section(text: str, anchor: str) -> str:
    start = text.index(f'<a id="{anchor}"></a>')
    end = text.find('<a id="', start + 10)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("anchor", list(SECTIONS))
def test_every_study_file_key_is_documented(anchor):
    text = (DOCS / "study-file.md").read_text(encoding="utf-8")
    section = _section(text, anchor)
    for attribute, field in SECTIONS[anchor].model_fields.items():
        name = field.alias or attribute  # the key as written in the file
        if anchor == "siting" and name == "types":
            continue  # its own section, siting-types
        rows = [line for line in section.splitlines() if line.startswith("| `")
                and name in re.findall(r"`(\w+)`", line.split("|")[1])]
        assert rows, f"[{anchor}] {name} is not documented"
        default = field.default
        shown = re.findall(r"`([^`]*)` \|$", rows[0])
        if isinstance(default, int | float | str) and not isinstance(default, bool) and shown:
            assert shown[-1] in (str(default), f'"{default}"'), (anchor, name, shown, default)
    assert set(StudyConfig.model_fields) <= {*SECTIONS, "coverage"}
    assert "pattern" in _section(text, "boundary")
    assert all(f"`{k}`" in _section(text, "boundary") for k in NumberingSection.model_fields)


def test_every_exit_code_is_documented():
    text = _section((DOCS / "cli.md").read_text(encoding="utf-8"), "exit-codes")
    for code in EXIT_CODES:
        assert f"| `{code}` |" in text


def _examples() -> list[tuple[str, str | None]]:
    text = (DOCS / "own-data.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    out = []
    for i, (lang, body) in enumerate(blocks):
        if lang == "python":
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            out.append((body, following[1] if following and following[0] == "text" else None))
    return out


def test_the_worked_examples_run_and_print_what_they_show(monkeypatch):
    examples = _examples()
    assert len(examples) == 5
    monkeypatch.chdir(REPO)
    namespace: dict = {}  # one page, read top to bottom: later examples use earlier imports
    for code, shown in examples:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, "docs/own-data.md", "exec"), namespace)
        if shown is not None:
            assert printed.getvalue() == shown, code


def test_docs_speak_only_of_the_repository():
    for page in sorted(DOCS.glob("*")):
        if page.suffix not in (".md", ".py"):
            continue
        text = page.read_text(encoding="utf-8")
        # no absolute path of a machine (a home, root's or a scratch folder)
        assert not re.search(r"(?<![\w.~])/(?:home|root|tmp|work|Users)/", text), page.name
        assert "shared/data" not in text, page.name
        assert not re.search(r"\]\((?!https?://|#)[^)]*\.\./", text), page.name
