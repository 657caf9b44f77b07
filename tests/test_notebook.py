"""notebooks/tour.ipynb runs top to bottom through the Kedro IPython extension on the smoke project."""

import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO


@pytest.mark.slow
def test_tour_notebook_executes(smoke_project, monkeypatch):
    smoke_project.run("evaluation")            # leaderboard + baseline scores exist
    nb_dir = smoke_project.path / "notebooks"
    nb_dir.mkdir(exist_ok=True)
    shutil.copy(REPO / "notebooks" / "tour.ipynb", nb_dir / "tour.ipynb")
    nb = nbformat.read(nb_dir / "tour.ipynb", as_version=4)
    monkeypatch.setenv("VAD_ENV", "smoke")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(nb_dir)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    assert "motion_baseline" in text                         # the leaderboard was shown
    assert any("image/png" in o.get("data", {}) for o in outputs)   # the score curve was drawn
    assert os.environ.get("VAD_ENV") == "smoke"
