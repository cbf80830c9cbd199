"""The layering is kept by import-linter's contracts (pyproject.toml): they hold, and they bite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "billing", "wechat", "voice", "analytics", "handoff", "gateway", "actions", "nlu", "bot")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_contracts_hold(copy_of_the_code: Path) -> None:
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "upward_import", "broken"),
    [
        ("core/db.py", "import gateway.app", "Layers"),
        ("billing/money.py", "import handoff.store", "Layers"),
        ("analytics/figures.py", "import handoff.store", "Layers"),
        ("gateway/dialogue.py", "import handoff.service", "The gateway knows handoff only through its ports"),
        ("nlu/numbers.py", "import core.privacy", "nlu/ runs inside the Rasa server"),
    ],
)
def test_an_upward_import_breaks_a_contract(
    copy_of_the_code: Path, module: str, upward_import: str, broken: str
) -> None:
    path = copy_of_the_code / module
    path.write_text(path.read_text() + f"\n{upward_import}  # added by the test\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout
