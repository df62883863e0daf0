"""Real scikit-learn, XGBoost, LightGBM and tqdm runs through `tui launch`: the engine stores
every point each library printed, at the step it printed, and nothing it did not.

The truth is what each library keeps of its own training (tests/fixtures/metrics/record.py
writes it from evals_result, loss_curve_, train_score_...). CI installs these libraries
(the `ml` extra); elsewhere a missing one skips its case, and under CI=true fails it.
"""

import importlib.util
import json
import math
import shutil
import sys

import pytest

from tests.fixtures.metrics import record
from tests.helpers import REPO, require

CASES = {"sklearn_mlp": "sklearn", "sklearn_gradient_boosting": "sklearn",
         "sklearn_sgd": "sklearn", "xgboost_train": "xgboost", "xgboost_cv": "xgboost",
         "lightgbm_train": "lightgbm", "tqdm_postfix": "tqdm"}


@pytest.fixture
def recorder(project):
    shutil.copy(REPO / "tests" / "fixtures" / "metrics" / "record.py", project / "record.py")
    return project


def _stored(cli, run_id: int) -> dict:
    series = cli.json("metrics", str(run_id), "--json")["metrics"]
    return {name: {step: math.nan if value == "NaN" else value for step, value in points}
            for name, points in series.items()}


def _import_problem(module: str) -> str | None:
    """Why the library cannot be used here: not installed, or a system library it loads is
    missing (LightGBM needs libgomp1, which a minimal Debian lacks)."""
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[ml]')"
    try:
        importlib.import_module(module)
    except OSError as exc:
        return f"{module} cannot be loaded: {exc} (apt-get install libgomp1)"
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_library_run_keeps_every_printed_point(cli, recorder, tmp_path, name):
    module = CASES[name]
    problem = _import_problem(module)
    require(problem is None, problem or "")
    truth_file = tmp_path / f"{name}.json"
    run_id = cli.launch(sys.executable, "record.py", "--child", name,
                        opts=("--env", f"RECORD_TRUTH={truth_file}"))
    assert cli("wait", str(run_id), timeout=120).returncode == 0
    truth = json.loads(truth_file.read_text())
    assert record.mismatches(_stored(cli, run_id), truth) == []


def test_three_thousand_tqdm_redraws_give_three_thousand_points(cli, project):
    require(importlib.util.find_spec("tqdm") is not None, "tqdm is not installed")
    (project / "bar.py").write_text(
        "from tqdm import tqdm\n"
        "bar = tqdm(range(3000), mininterval=0)\n"
        "for i in bar:\n"
        "    bar.set_postfix(seen=i)\n")
    run_id = cli.launch(sys.executable, "bar.py")
    assert cli("wait", str(run_id), timeout=120).returncode == 0
    points = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert list(points) == ["seen"]
    assert [value for _step, value in points["seen"]] == list(range(3000))
