"""Write a gathered report to a folder: report.html (self-contained) and report.pdf (the same content)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakewatch.errors import LakewatchError
from lakewatch.reporting.content import Report
from lakewatch.reporting.html import render_html
from lakewatch.reporting.pdf import write_pdf

HTML_NAME, PDF_NAME = "report.html", "report.pdf"


@dataclass(frozen=True)
class Written:
    """The files a report was written to, and the PDF's page count."""

    html: Path
    pdf: Path
    pages: int


def write_report(report: Report, out: Path) -> Written:
    """Write `report` as HTML_NAME and PDF_NAME under `out` (created when missing; files there are replaced).
    LakewatchError naming `out` when it is not a writable folder."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        html = out / HTML_NAME
        html.write_text(render_html(report), encoding="utf-8")
        pdf = out / PDF_NAME
        pages = write_pdf(report, pdf)
    except (NotADirectoryError, FileExistsError, PermissionError) as exc:
        raise LakewatchError(f"--out {out}: cannot write the report there ({exc.strerror or exc})") from None
    return Written(html, pdf, pages)
