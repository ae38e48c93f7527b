"""MkDocs hooks of the documentation site (named in mkdocs.yml).

- The test conventions' fence words (```python notest, ```text output) are dropped before
  rendering: Python-Markdown's fences accept only the language there.
- ``assets/report.png``, the screenshot of a report on the front page, is made here by every
  build (the digits, k-means with k=10, the report opened in headless Chromium), so the picture
  always shows what the code draws today; it is never checked in.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile

from mkdocs.structure.files import File

# the words the docs tests read after a fence's language (tests/docs/blocks.py)
FENCE = re.compile(r"^(?P<head>\s*(?:`{3,}|~{3,})\s*[\w+-]+)[ \t]+(?:notest|output)[ \t]*$",
                   re.MULTILINE)
log = logging.getLogger("mkdocs.hooks.screenshot")
SCREENSHOT = "assets/report.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def on_page_markdown(markdown: str, **kwargs) -> str:
    return FENCE.sub(r"\g<head>", markdown)


def on_files(files, config):
    if chromium() is None:  # the site builds without its picture rather than not at all
        log.info("No chromium: the report screenshot is left out (`make browser` installs it).")
        return files
    files.append(File.generated(config, SCREENSHOT, content=report_screenshot()))
    return files


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def report_screenshot() -> bytes:
    """A PNG of the top of the digits' k-means report, as a browser shows it."""
    from playwright.sync_api import sync_playwright
    from sklearn.datasets import load_digits

    from clustermetrics import Client

    digits = load_digits()
    with tempfile.TemporaryDirectory() as tmp:
        html = os.path.join(tmp, "report.html")
        with Client(path=os.path.join(tmp, "store.duckdb")) as client:
            client.Dataset("digits").insert_documents(
                [{"_id": f"digit-{i}", "pixels_vector_": x, "digit": int(t)}
                 for i, (x, t) in enumerate(zip(digits.data, digits.target, strict=True))])
            tools = client.vector_tools.cluster
            tools.kmeans("digits", "pixels_vector_", k=10)
            tools.report("digits", "pixels_vector_", "kmeans_10", "digit", path=html)
        png = os.path.join(tmp, "report.png")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium() or "chromium",
                                        args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto("file://" + html)
            page.wait_for_function("document.querySelectorAll('.main-svg').length > 2")
            page.wait_for_timeout(500)  # plotly's transitions settle
            page.screenshot(path=png)
            browser.close()
        with open(png, "rb") as f:
            return f.read()
