"""Layering: deploy/ may import services/, services/ never imports deploy/ (nor tests/ or bench/)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_SERVICES = ("deploy", "tests", "bench")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def test_services_never_import_deploy():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in sorted((ROOT / "services").rglob("*.py"))
                 for line, module in imported_modules(path)
                 if module.split(".")[0] in OUTSIDE_SERVICES]
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from deploy.up import main\n    import bench.report\n")
    assert [module for _, module in imported_modules(sample)] == ["deploy.up", "bench.report"]
