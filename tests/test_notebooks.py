"""The analyst notebooks: committed without outputs, run top to bottom on the sample world.

Each notebook is executed with nbclient, ``DATA_DIR`` injected after its ``parameters`` cell
as papermill does; it must run without error, render a figure wherever it shows one, and end
with an answer computed from the run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
#: Longest a cell may run (the engine opening on a busy machine included), seconds.
CELL_TIMEOUT = 300
#: Project modules a notebook may import: the engine's public API and the demo world.
PUBLIC = {"geoalert", "geoalert.demo"}
PROJECT = ("geoalert", "cells", "geodata", "api")


def code(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_the_analysts_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_states_its_question_takes_parameters_and_uses_the_public_api(path: Path):
    notebook = nbformat.read(path, as_version=4)
    first, last = notebook.cells[0], notebook.cells[-1]
    assert first.cell_type == "markdown" and "**Question.**" in first.source
    assert notebook.cells[-2].cell_type == "markdown" and "## Answer" in notebook.cells[-2].source
    assert last.cell_type == "code" and "display(" in last.source
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and re.search(r"^DATA_DIR = None\b", tagged[0].source, re.M)
    for source in code(notebook):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = []
            for name in names:
                if name.split(".")[0] in PROJECT:
                    assert name in PUBLIC, f"{path.name} imports {name}"
            if isinstance(node, ast.Attribute):
                private = node.attr.startswith("_") and not node.attr.endswith("__")
                assert node.attr != "indexes" and not private, f"{path.name} uses .{node.attr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_on_the_sample_world(path: Path, sample_world: Path):
    notebook = nbformat.read(path, as_version=4)
    at = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        f"DATA_DIR = {str(sample_world)!r}", metadata={"tags": ["injected-parameters"]}
    )
    notebook.cells.insert(at + 1, injected)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()  # raises CellExecutionError on the first error

    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {i}: {errors}"
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        shows = cell.source.count("plt.show()")
        assert len(images) == shows, f"cell {i} shows {shows} figures, rendered {len(images)}"
        for image in images:
            assert len(image.data["image/png"]) > 5_000, f"cell {i}: an empty figure"
    answer = [o for o in notebook.cells[-1].outputs if "text/markdown" in o.get("data", {})]
    assert len(answer) == 1 and re.search(r"\d", answer[0].data["text/markdown"])


def test_ensure_world_opens_a_world_as_it_is_and_builds_only_a_known_scale(
    sample_world: Path, tmp_path: Path
):
    from geoalert.demo import ensure_world

    manifest = sample_world / "manifest.json"
    before = manifest.stat().st_mtime_ns
    assert ensure_world(sample_world, scale="national") == sample_world
    assert manifest.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="scale must be one of"):
        ensure_world(tmp_path / "world", scale="regional")
    assert not (tmp_path / "world").exists()
