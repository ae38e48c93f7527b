"""Run the code blocks of a Markdown page, in order, as a reader would.

The conventions (every page of the README and docs/ follows them):

- ```python runs; all the Python blocks of a page share one namespace, in order.
- ```bash runs in a shell of its own (``bash -e -o pipefail``), with ``clustermetrics`` and
  ``python`` on PATH (this interpreter and its package, as in an activated environment); shell
  variables do not carry from one block to the next.
- ```python notest or ```bash notest is shown, never run (installing, starting a server).
- ```text is shown, never run. ```text output right after a block that runs is what that block
  prints on stdout, and is checked: lines compared with trailing spaces dropped, ``...``
  standing for any text (doctest's ELLIPSIS).
- Every page runs in a fresh folder, with ``CLUSTERMETRICS_PATH`` naming a store there.

A block that fails stops the page with its file, line, code and what it printed.
pytest-markdown-docs isolates blocks unless each says ``continuation`` and runs no shell; Sybil
collects only the paths pytest walks (docs/ and README.md are outside tests/) and skips by
comments of its own. So this is a small collector of our own on markdown-it-py, which Rich
already installs.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Block:
    """One fenced block: its language, the words after it, its code and its first line."""

    lang: str
    words: list[str]
    code: str
    line: int  # 1-based line of the opening fence
    output: Block | None = field(default=None, repr=False)  # the ```text output after it

    @property
    def runs(self) -> bool:
        return (self.lang in PYTHON or self.lang in SHELL) and "notest" not in self.words


class DocsError(AssertionError):
    """A page whose blocks do not run as written, or print other than they show."""


def parse(text: str, name: str = "<page>") -> list[Block]:
    """The fenced blocks of ``text`` in order; each ```text output is attached to the block
    before it, which must run."""
    blocks: list[Block] = []
    for tok in MarkdownIt("commonmark").parse(text):
        if tok.type != "fence":
            continue
        lang, *words = tok.info.split() or [""]
        block = Block(lang.lower(), words, tok.content, tok.map[0] + 1 if tok.map else 0)
        if block.lang == "text" and "output" in block.words:
            before = blocks[-1] if blocks else None
            if before is None or not before.runs or before.output is not None:
                raise DocsError(f"{name}:{block.line}: a ```text output block must follow a "
                                "block that runs (```python or ```bash); make it ```text, or "
                                "put it right after the block whose output it shows.")
            before.output = block
        blocks.append(block)
    return blocks


def shell_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the shell blocks: ``clustermetrics`` runs this interpreter on this
    checkout's package."""
    bindir = workdir / ".docs-bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "clustermetrics"
    # as pip writes a console script: the call under the __main__ guard
    exe.write_text(f"#!{sys.executable}\nimport sys\nfrom clustermetrics.cli import main\n"
                   "if __name__ == '__main__':\n    sys.exit(main())\n")
    exe.chmod(0o755)
    env = dict(os.environ, **(extra or {}))
    # as in an activated environment: `python` is this interpreter
    path = [str(bindir), os.path.dirname(sys.executable), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def check_output(block: Block, got: str, name: str) -> None:
    assert block.output is not None
    want = "\n".join(line.rstrip() for line in block.output.code.strip("\n").splitlines())
    got = "\n".join(line.rstrip() for line in got.strip("\n").splitlines())
    if not doctest.OutputChecker().check_output(want + "\n", got + "\n", doctest.ELLIPSIS):
        raise DocsError(f"{name}:{block.output.line}: the output shown is not what the block at "
                        f"line {block.line} prints.\n--- shown\n{want}\n--- printed\n{got}")


def run_python(block: Block, namespace: dict, name: str) -> str:
    out = io.StringIO()
    try:
        code = compile(block.code, f"{name}:{block.line}", "exec")
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
    except Exception:
        raise DocsError(f"{name}:{block.line}: this ```python block fails.\n{block.code}\n"
                        f"--- printed\n{out.getvalue()}\n--- error\n{traceback.format_exc()}"
                        ) from None
    return out.getvalue()


def run_shell(block: Block, workdir: Path, env: dict[str, str], name: str,
              timeout: float = 600) -> str:
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise DocsError(f"{name}:{block.line}: this ```bash block exits with "
                        f"{proc.returncode}.\n{block.code}\n--- stdout\n{proc.stdout}\n"
                        f"--- stderr\n{proc.stderr}")
    return proc.stdout


def run_page(text: str, name: str, workdir: Path, env: dict[str, str]) -> int:
    """Run every block of ``text`` that runs, in order, in ``workdir`` (the current folder of
    the caller, who sets the environment ``env`` for Python too); returns how many ran."""
    namespace: dict = {"__name__": "__main__"}
    ran = 0
    try:
        for block in parse(text, name):
            if not block.runs:
                continue
            if block.lang in PYTHON:
                got = run_python(block, namespace, name)
            else:
                got = run_shell(block, workdir, env, name)
            if block.output is not None:
                check_output(block, got, name)
            ran += 1
    finally:
        _close(namespace)
    return ran


def _close(namespace: dict) -> None:
    """Close the page's clients (their stores and connections), as a script's end would."""
    from clustermetrics.client import Client
    for value in list(namespace.values()):
        if isinstance(value, Client):
            value.close()
    namespace.clear()


def pages() -> list[Path]:
    """Every page the docs tests run: README.md and docs/**/*.md (a new page is run by being
    there)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
