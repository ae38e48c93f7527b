"""The docs runner itself: what runs, what is checked, and how a failure reads."""

from __future__ import annotations

import pytest

from .blocks import DocsError, parse, run_page, shell_env

PAGE = """# A page

```python
x = 2
print(x * 21)
```

```text output
42
```

```python notest
raise SystemExit("never runs")
```

```bash
echo "from the shell: $CM_TEST"
```

```text output
from the shell: ...
```

```text
shown only
```
"""


def _run(text, tmp_path, monkeypatch, **env):
    monkeypatch.chdir(tmp_path)
    return run_page(text, "page.md", tmp_path, shell_env(tmp_path, env))


def test_blocks_run_in_order_and_outputs_attach():
    blocks = parse(PAGE)
    assert [(b.lang, b.runs) for b in blocks] == [
        ("python", True), ("text", False), ("python", False), ("bash", True), ("text", False),
        ("text", False)]
    assert blocks[0].output is blocks[1] and blocks[3].output is blocks[4]
    assert blocks[0].line == 3


def test_a_page_runs(tmp_path, monkeypatch):
    assert _run(PAGE, tmp_path, monkeypatch, CM_TEST="yes") == 2


def test_python_blocks_share_a_namespace(tmp_path, monkeypatch):
    page = "```python\nn = 5\n```\n\n```python\nprint(n + 1)\n```\n\n```text output\n6\n```\n"
    assert _run(page, tmp_path, monkeypatch) == 2


def test_clustermetrics_is_on_the_shells_path(tmp_path, monkeypatch):
    page = "```bash\nclustermetrics --help | head -1\n```\n\n```text output\nUsage: ...\n```\n"
    assert _run(page, tmp_path, monkeypatch) == 1


def test_output_that_differs_fails_naming_both_lines(tmp_path, monkeypatch):
    page = "```python\nprint(41)\n```\n\n```text output\n42\n```\n"
    with pytest.raises(DocsError, match=r"page.md:5: the output shown is not what the block "
                                        r"at line 1 prints.\n--- shown\n42\n--- printed\n41"):
        _run(page, tmp_path, monkeypatch)


def test_a_failing_python_block_names_its_line(tmp_path, monkeypatch):
    page = "text\n\n```python\nundefined_name\n```\n"
    with pytest.raises(DocsError, match=r"(?s)page.md:3: this ```python block fails.*"
                                        r"NameError: name 'undefined_name' is not defined"):
        _run(page, tmp_path, monkeypatch)


def test_a_failing_shell_block_names_its_line_and_status(tmp_path, monkeypatch):
    page = "```bash\necho before\nfalse\necho never\n```\n"
    with pytest.raises(DocsError, match=r"(?s)page.md:1: this ```bash block exits with 1.*"
                                        r"--- stdout\nbefore\n\n--- stderr"):
        _run(page, tmp_path, monkeypatch)


def test_output_after_a_block_that_does_not_run_is_refused():
    page = "```python notest\nprint(1)\n```\n\n```text output\n1\n```\n"
    with pytest.raises(DocsError, match=r"page.md:5: a ```text output block must follow a "
                                        r"block that runs"):
        parse(page, "page.md")
