"""Great Expectations Data Docs that render offline: the CDN assets GE's page templates load, served from the site.

GE 1.x's templates (page.j2, index_page.j2, js_script_imports.j2) hard-code Bootstrap, jQuery, bootstrap-table,
Font Awesome, vega... from public CDNs, and GE's custom-views directory cannot override them (the package's
templates are searched first). Without them a plant network sees an unstyled page whose Validation Results and
Expectation Suites tables stay empty (bootstrap-table fills them from JSON in JavaScript). So after every build
:func:`make_offline` copies the same libraries, vendored from their npm packages in
``lakewatch/data_docs_assets/`` (see its README.md), to ``<site>/static/vendor/`` and points every page at them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "data_docs_assets"
VENDOR = "vendor"  # under the site's static/ folder, beside GE's own styles, fonts and images

# Every CDN URL GE 1.24's Data Docs templates load, and the vendored file that replaces it.
CDN_ASSETS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/vega-embed.min.js",
}
# GE's navbar logo comes from its S3 bucket (with a tracking query); GE ships the same image in static/images/.
_GE_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3[\w.-]*\.amazonaws\.com/[\w.-]*?\.png[^\"']*")
# Subresource integrity and CORS mode make a file:// page refuse a local script: both go with the CDN.
_SRI = re.compile(r"\s+(?:integrity=\"[^\"]*\"|crossorigin=\"[^\"]*\")")
_LOADED = re.compile(r"(?:src|href)=\"(https?://[^\"]+)\"")


class DataDocsError(RuntimeError):
    """A Data Docs site that cannot be made offline (no such folder, or a vendored asset missing)."""


def external_assets(html: str) -> list[str]:
    """URLs of the scripts, stylesheets and images a page loads from the network (links to click excluded)."""
    loaded = []
    for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", html, flags=re.IGNORECASE):
        loaded += _LOADED.findall(tag)
    return loaded


def _rewrite(html: str, static: str) -> str:
    for url, local in CDN_ASSETS.items():
        html = html.replace(f'"{url}"', f'"{static}/{VENDOR}/{local}"')
    html = _GE_IMAGES.sub(f"{static}/images/logo-long.png", html)
    return _SRI.sub("", html)


def copy_assets(site_dir: str | Path) -> Path:
    """Copy the vendored libraries to ``<site>/static/vendor/`` (once; a complete copy is kept) and return it."""
    target = Path(site_dir) / "static" / VENDOR
    missing = [local for local in CDN_ASSETS.values() if not (ASSETS / local).is_file()]
    if missing:
        raise DataDocsError(f"vendored Data Docs assets missing from {ASSETS}: {missing}")
    if not all((target / local).is_file() for local in CDN_ASSETS.values()):
        shutil.copytree(ASSETS, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    return target


def make_offline(site_dir: str | Path) -> list[Path]:
    """Make a built Data Docs site self-contained: vendored assets in static/vendor/, every HTML page's CDN
    references pointed at them (relative paths, so the site can be moved or opened via file://).

    Idempotent; returns the pages rewritten. Raises DataDocsError when `site_dir` has no index.html, or a page
    still loads something from the network afterwards (a GE upgrade that added an asset this module lacks).
    """
    site = Path(site_dir)
    if not (site / "index.html").is_file():
        raise DataDocsError(f"Data Docs site {site}: no index.html (has the site been built?)")
    copy_assets(site)
    rewritten = []
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        if "://" not in html:
            continue
        static = Path(os.path.relpath(site / "static", page.parent)).as_posix()
        offline = _rewrite(html, static)
        if left := external_assets(offline):
            raise DataDocsError(f"Data Docs page {page} still loads {left}: add them to lakewatch.data_docs")
        if offline != html:
            page.write_text(offline, encoding="utf-8")
            rewritten.append(page)
    return rewritten
