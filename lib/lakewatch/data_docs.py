"""Great Expectations Data Docs that render offline: the CDN assets GE's page templates load, served from the site.

GE 1.x's templates (page.j2, index_page.j2, js_script_imports.j2) hard-code Bootstrap, jQuery, bootstrap-table,
Font Awesome, vega... from public CDNs, and GE's custom-views directory cannot override them (the package's
templates are searched first). Without them a plant network sees an unstyled page whose Validation Results and
Expectation Suites tables stay empty (bootstrap-table fills them from JSON in JavaScript). So after every build
:func:`make_offline` copies the same libraries to ``<site>/static/vendor/`` and points every page at them.

The libraries are the npm packages of exactly the versions GE's templates name, listed in
``conf/data_docs/package.json`` and installed from the npm registry by ``./spark-submit.sh setup`` (and by the
test command) into ``<venv>/lakewatch-data-docs/node_modules`` ($LAKEWATCH_DATA_DOCS_ASSETS elsewhere); nothing
of theirs is kept in this repository.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from lakewatch.errors import LakewatchError

ASSETS_ENV = "LAKEWATCH_DATA_DOCS_ASSETS"
VENDOR = "vendor"  # under the site's static/ folder, beside GE's own styles, fonts and images

# Every CDN URL GE 1.24's Data Docs templates load, and the file of its npm package that replaces it.
CDN_ASSETS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# Folders a copied stylesheet refers to (Font Awesome's CSS loads ../webfonts/).
ASSET_FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)
# GE's navbar logo comes from its S3 bucket (with a tracking query); GE ships the same image in static/images/.
_GE_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3[\w.-]*\.amazonaws\.com/[\w.-]*?\.png[^\"']*")
# Subresource integrity and CORS mode make a file:// page refuse a local script: both go with the CDN.
_SRI = re.compile(r"\s+(?:integrity=\"[^\"]*\"|crossorigin=\"[^\"]*\")")
_LOADED = re.compile(r"(?:src|href)=\"(https?://[^\"]+)\"")


class DataDocsError(LakewatchError):
    """A Data Docs site that cannot be made offline (no such folder, or an asset package not installed)."""


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


def assets_dir() -> Path:
    """Where the npm packages are installed: $LAKEWATCH_DATA_DOCS_ASSETS, else the virtual environment's
    ``lakewatch-data-docs/node_modules`` (made by ``./spark-submit.sh setup`` from conf/data_docs/package.json)."""
    env = os.environ.get(ASSETS_ENV)
    return Path(env) if env else Path(sys.prefix) / "lakewatch-data-docs" / "node_modules"


def copy_assets(site_dir: str | Path, assets: Path | None = None) -> Path:
    """Copy the libraries the pages load to ``<site>/static/vendor/`` (once; a complete copy is kept) and return it.

    Raises DataDocsError naming the folder and the missing files when the npm packages are not installed."""
    source = assets or assets_dir()
    target = Path(site_dir) / "static" / VENDOR
    missing = [local for local in CDN_ASSETS.values() if not (source / local).is_file()]
    if missing:
        raise DataDocsError(f"Data Docs assets missing from {source}: {missing[:3]}{' ...' if len(missing) > 3 else ''}"
                            f"; run ./spark-submit.sh setup (npm install of conf/data_docs/package.json)")
    if all((target / local).is_file() for local in CDN_ASSETS.values()):
        return target
    for local in sorted(set(CDN_ASSETS.values())):
        (target / local).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / local, target / local)
    for folder in ASSET_FOLDERS:
        shutil.copytree(source / folder, target / folder, dirs_exist_ok=True)
    return target


def make_offline(site_dir: str | Path) -> list[Path]:
    """Make a built Data Docs site self-contained: the libraries in static/vendor/, every HTML page's CDN
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
