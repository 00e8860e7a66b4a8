"""MkDocs hooks: put the generated reports/ on the site and point repository links at it.

``reports/`` (written by ``wellposed check`` and the nox sessions) lives next to ``docs/``,
not inside it; the pages link to it as ``../reports/...`` so that the links also work when
the Markdown is read on GitHub.  :func:`on_files` adds every report and figure to the site
under ``reports/``; :func:`on_page_markdown` rewrites ``../reports/`` to ``reports/`` and
links to other repository files (``../wellposed/ledger.toml``) to their GitHub address.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
BLOB = "https://github.com/wellposed/wellposed/blob/main/"
_OUTSIDE = re.compile(r"\]\(\.\./(?!reports/)([^)#\s]+)")


def on_files(files: Files, config: Any) -> Files:
    """Every file under reports/ (Markdown, figures, their JSON data) as a site file."""
    for path in sorted(p for p in REPORTS.rglob("*") if p.is_file()):
        uri = "reports/" + path.relative_to(REPORTS).as_posix()
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """``../reports/X`` -> ``reports/X`` (on the site); other ``../X`` -> GitHub's copy; the
    reports' ``<details>`` blocks get ``markdown="1"`` so their tables and figures render."""
    if page.file.src_uri.startswith("reports/"):
        markdown = re.sub(r"<details>", '<details markdown="1">', markdown)
    markdown = markdown.replace("](../reports/", "](reports/")
    return _OUTSIDE.sub(lambda m: f"]({BLOB}{m.group(1)})", markdown)
