"""The one output layer: atomic files, markdown tables and prose within a width, numbers, style.

Every report the project writes (``wellposed check``'s claims and families, ``wellposed
train``'s training report, the audits' text, the property suite's, the seed sweep's and the
mutation run's) goes through :mod:`wellposed.report.files` (one atomic writer) and
:mod:`wellposed.report.text` (one table helper with the width policy, one prose wrapper, one
number formatter); figures take their style and fixed colours from
:mod:`wellposed.report.style`.
"""

from wellposed.report.files import write_files, write_text
from wellposed.report.text import (
    PROSE_WIDTH,
    TABLE_WIDTH,
    cell,
    fmt_number,
    markdown_table,
    wrap,
)

__all__ = [
    "PROSE_WIDTH",
    "TABLE_WIDTH",
    "cell",
    "fmt_number",
    "markdown_table",
    "wrap",
    "write_files",
    "write_text",
]
