"""Frames as rows of text cells, formatted the same way in the HTML and the PDF tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd


def cell(value: Any) -> str:
    """One value as text: times to the minute (UTC), floats to 3 decimals, missing as an empty cell."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return ""
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        return f"{stamp if stamp.tzinfo is None else stamp.tz_convert('UTC'):%Y-%m-%d %H:%M}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def rows(frame: pd.DataFrame, columns: list[str], limit: int | None = None, width: int | None = None
         ) -> list[list[str]]:
    """The first `limit` rows of `frame`'s `columns` as text cells, each cut to `width` characters when given."""
    shown = frame[columns].head(limit) if limit else frame[columns]
    cut = (lambda s: s if len(s) <= width else s[: width - 1] + "…") if width else (lambda s: s)
    return [[cut(cell(v)) for v in record] for record in shown.itertuples(index=False)]


def headings(columns: list[str]) -> list[str]:
    """Column names as headings: underscores to spaces."""
    return [c.replace("_", " ") for c in columns]
