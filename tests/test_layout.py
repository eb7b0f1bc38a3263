"""The codebase's shape, which nothing else would notice drifting: explorer/ is plain Python, the views
name no session key of their own, and every benchmark script still runs."""
import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SESSION = ("session_state", "ss")   # st.session_state and the views' local alias for it


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_text(node) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_session(node) -> bool:
    return (isinstance(node, ast.Name) and node.id in SESSION
            or isinstance(node, ast.Attribute) and node.attr in SESSION)


def raw_session_keys(path: Path) -> list[str]:
    """Where a file uses a string as a session key: a widget's ``key="…"``, ``session_state["…"]``,
    ``session_state.get("…")`` and the like, or a link parameter bound to ``"…"``."""
    found = []
    for node in ast.walk(_tree(path)):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.keyword) and node.arg == "key" and _is_text(node.value):
            found.append(where)
        elif isinstance(node, ast.Subscript) and _is_session(node.value) and _is_text(node.slice):
            found.append(where)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and _is_session(node.func.value) and node.func.attr in ("get", "pop", "setdefault")
              and node.args and _is_text(node.args[0])):
            found.append(where)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "links"
              and len(node.args) >= 2 and _is_text(node.args[1])):
            found.append(where)
    return found


def test_views_name_no_session_key_of_their_own():
    files = [*(ROOT / "views").glob("*.py"), ROOT / "streamlit_app.py"]
    assert len(files) > 15
    raw = [w for f in files if f.name != "keys.py" for w in raw_session_keys(f)]
    assert raw == [], f"session keys as strings (name them in views/keys.py): {raw}"


def test_the_check_for_raw_keys_finds_them(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('st.slider("x", key="k")\nss["a"] = 1\nst.session_state.get(f"b_{d}")\n'
                   'links.Int("n", "sample_n")\nst.slider("y", key=keys.K)\n')
    assert sorted(w.split(":")[1] for w in raw_session_keys(bad)) == ["1", "2", "3", "4"]


def test_explorer_is_plain_python():
    """What the app computes imports no Streamlit: it runs and is tested without a server."""
    for path in (ROOT / "explorer").glob("*.py"):
        for node in ast.walk(_tree(path)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path.name} imports {names}"


RUN_EACH = """
import runpy, sys
for script in sys.argv[1:]:
    sys.argv = [script, "--help"]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    print("ran", script, flush=True)
"""


def test_every_benchmark_script_runs():
    """Each script under bench/ imports and answers --help (one interpreter for all: torch loads once);
    a module without a main (a benchmark's helper) is imported by a script that has one."""
    bench = ROOT / "bench"
    scripts = sorted(p for p in bench.glob("*.py") if "__main__" in p.read_text())
    helpers = sorted(set(bench.glob("*.py")) - set(scripts))
    assert len(scripts) >= 14
    for helper in helpers:
        assert any(f"from {helper.stem} import" in s.read_text() for s in scripts), helper.name
    done = subprocess.run([sys.executable, "-c", RUN_EACH, *map(str, scripts)], cwd=bench, text=True,
                          capture_output=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(bench)})
    ran = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("ran ")]
    assert done.returncode == 0 and ran == list(map(str, scripts)), done.stderr[-2000:]
    assert done.stdout.count("usage:") == len(scripts)
