"""The README and the docs pages say what runs: every command they show parses with today's CLI, the
quick ones run as written, every benchmark flag exists, and every relative link points somewhere."""
import hashlib
import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shell_lines(page: Path) -> list[str]:
    """The command lines of a page's ```bash blocks, without their trailing comments."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(shlex.join(words))
    return lines


COMMANDS = [(page.name, line) for page in PAGES for line in shell_lines(page)]
TRAINING = [(name, line) for name, line in COMMANDS if line.startswith("python -m training ")]
# Commands that take seconds; the rest (training, embedding, a full evaluation) are checked by parsing.
QUICK = ("generate --category", "encode ")


def test_the_pages_show_every_command():
    assert len(TRAINING) >= 25
    shown = {line.split()[3] for _, line in TRAINING}
    assert shown >= {"train", "finetune-decoder", "embed", "evaluate", "generate", "encode", "figure",
                     "classifier", "report"}


@pytest.mark.parametrize("page, line", TRAINING, ids=[f"{p}: {line[19:60]}" for p, line in TRAINING])
def test_every_training_command_parses(page, line):
    from training.cli import build_parser
    try:
        build_parser().parse_args(shlex.split(line)[3:])
    except SystemExit:
        pytest.fail(f"{page}: `{line}` does not parse")


def _assets_digest() -> str:
    files = sorted(p for p in (ROOT / "assets").rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@pytest.mark.slow
def test_the_quick_commands_run_as_written(tmp_path, data_dir):
    """From a scratch directory that sees the shipped assets and docs, so nothing lands in the checkout."""
    for name in ("assets", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    before = _assets_digest()
    ran = 0
    for page, line in TRAINING:
        if any(line[len("python -m training "):].startswith(q) for q in QUICK):
            code, out, err = run_cli(*shlex.split(line)[3:], cwd=tmp_path)
            assert code == 0, f"{page}: `{line}` failed: {err}"
            ran += 1
    assert ran >= 6
    assert _assets_digest() == before, "a documented command changed the shipped assets"


def test_every_benchmark_script_and_flag_exists():
    for page, line in COMMANDS:
        words = shlex.split(line)
        scripts = [w for w in words if w.startswith("bench/") and w.endswith(".py")]
        for script in scripts:
            source = (ROOT / script).read_text()
            for flag in (w for w in words[words.index(script) + 1:] if w.startswith("--")):
                assert f'"{flag}"' in source, f"{page}: {script} has no {flag}"
    pattern = r"`(?:\.venv/bin/)?python (bench/\w+\.py)"
    inline = {m for page in PAGES for m in re.findall(pattern, page.read_text())}
    assert inline and all((ROOT / s).is_file() for s in inline), inline


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_resolves():
    pages = [*PAGES, ROOT / "reports" / "notes.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: link to {target} points nowhere"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: no #{anchor} in {file.name}"


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first == ["bash scripts/setup.sh && .venv/bin/streamlit run streamlit_app.py",
                     "bash scripts/setup.sh --dev && .venv/bin/python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh --dev" in ci and ".venv/bin/python -m pytest" in ci and "ruff check" in ci
