"""The planner notebooks: thin, committed without outputs, and executed end to end.

Each notebook runs in a fresh ``python3`` kernel with ``notebooks/`` as the working directory
(as a user opening it in Jupyter would), on data shipped in the repository only (the demo
study in ``data/``, the bring-your-own-data examples in ``data/byod/``). A cell that raises
fails the test. The last cell must display a Leaflet map; a notebook that draws a chart must
show it as an image, drawn with its Chinese glyphs.
"""

from __future__ import annotations

import re
import sys
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_coverage.ipynb",
    "02_standards.ipynb",
    "03_siting.ipynb",
    "04_boundary.ipynb",
    "05_indicators.ipynb",
    "06_byod.ipynb",
]
CELL_TIMEOUT_S = 300
#: First cell added (in memory only) to learn which interpreter the kernel runs.
PROBE = "import sys\nprint(sys.executable)"
#: A script or stylesheet the browser would fetch from the web.
WEB_ASSET = re.compile(r"<(?:script|link)\b[^>]+(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
                       re.IGNORECASE)
#: What reaching for data outside the repository looks like.
OUTSIDE = re.compile(r"GEOPLAN_SHARED_DATA|shared_data|[\"'/]shared[\"'/]|\.\./\.\.|parent\.parent")
#: A warning that a chart was drawn without the glyphs of its Chinese text.
MISSING_GLYPH = re.compile(r"Glyph \d+ .* missing from font")
#: A string literal that starts like an absolute path (POSIX or a Windows drive).
ABSOLUTE_PATH = re.compile(r"""["'](?:/|[A-Za-z]:\\)[^"']*["']""")


def _code_sources(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _html_outputs(cell: nbformat.NotebookNode) -> list[str]:
    return [
        out["data"]["text/html"]
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("execute_result", "display_data")
        and "text/html" in out.get("data", {})
    ]


def test_the_six_workflow_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_thin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name}: committed outputs in {cell.source[:60]!r}"
        assert cell.execution_count is None, f"{path.name}: committed execution count"
        lines = cell.source.splitlines()
        defining = [ln for ln in lines if ln.lstrip().startswith(("def ", "class ", "async def "))]
        assert not defining, f"{path.name} defines {defining}: logic belongs in the package"
    sources = "\n".join(_code_sources(nb))
    absolute = ABSOLUTE_PATH.findall(sources)
    assert not absolute, f"{path.name}: absolute paths {absolute}; use geoplan.datasets"
    outside = OUTSIDE.findall(sources)
    assert not outside, f"{path.name} reads data outside the repository: {outside}"
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[-1].cell_type == "code"


def test_python3_kernel_is_this_interpreter_even_without_an_installed_kernelspec() -> None:
    """No kernelspec directories: jupyter_client falls back to ipykernel's native kernel."""
    specs = KernelSpecManager(kernel_dirs=[])
    assert (
        Path(specs.get_kernel_spec("python3").argv[0]).resolve() == Path(sys.executable).resolve()
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    try:
        NotebookClient(nb, km=km, timeout=60).execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    printed = nb.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_and_ends_with_a_map(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    elapsed = time.perf_counter() - start
    print(f"{path.name}: executed in {elapsed:.1f} s")

    kernel_python = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), (
        f"kernel ran {kernel_python}, not the test interpreter {sys.executable}"
    )
    html = _html_outputs(nb.cells[-1])
    assert html, f"{path.name}: the last cell displays no HTML"
    assert any("leaflet" in h.lower() for h in html), f"{path.name}: no Leaflet map at the end"
    assert any("geoplan-" in h for h in html), f"{path.name}: the map has no geoplan layer"
    fetched = [m.group(0) for h in html for m in WEB_ASSET.finditer(unescape(h))]
    assert not fetched, f"{path.name}: the inline map loads {fetched[:3]} (blank when offline)"
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs if o.get("output_type") == "stream")
    assert not MISSING_GLYPH.search(streams), f"{path.name}: a chart lacks Chinese glyphs"
    for cell in nb.cells:
        if cell.cell_type == "code" and "charts." in cell.source:
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"{path.name}: the chart of {cell.source[:60]!r} is not shown"
