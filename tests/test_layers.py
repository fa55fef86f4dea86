"""The house's shape as checked facts: the layers contract (.importlinter), and no class too long to read."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONGEST_CLASS = 150   # lines, from `class` to its last line
CODE = [*ROOT.glob("support/**/*.py"), *ROOT.glob("steps/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"),
        ROOT / "environment.py", ROOT / "locustfile.py"]


def test_the_layers_contract_is_kept():
    """import-linter: no module imports one of a higher layer, no cycles across layers, the backend apart."""
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                          "--config", str(ROOT / ".importlinter"), "--no-cache"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "kept" in run.stdout, run.stdout[-2000:]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_imports_the_hooks_or_the_locustfile():
    """environment.py and locustfile.py sit above every layer (behave and Locust load them by path)."""
    importers = [p.relative_to(ROOT) for p in CODE if {"environment", "locustfile"} & _imports(p)]
    assert importers == [], f"these import the top-level scripts: {importers}"


def test_no_class_is_longer_than_150_lines():
    long = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > LONGEST_CLASS:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == [], "classes longer than 150 lines: " + ", ".join(long)
