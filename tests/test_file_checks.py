"""File-level checks of CSV sources: each bad file is rejected with a reason that names the problem."""

from __future__ import annotations

import pytest

from lakewatch.config import FileSourceSpec
from lakewatch.sources.files import check_csv_head
from lakewatch.sources.filesystem import HEAD_BYTES, local_file, read_head

NAB_LIKE = FileSourceSpec(name="t", path="/x", timestamp_column="timestamp", value_column="value")
SKAB_LIKE = FileSourceSpec(name="s", path="/x", delimiter=";", timestamp_column="datetime", series_id_from="file_name",
                           channel_columns=("a", "b"))


def check(text: bytes, spec: FileSourceSpec = NAB_LIKE):
    return check_csv_head(text, len(text), spec)


def test_good_file_yields_its_columns() -> None:
    assert check(b"timestamp,value\n2020-01-01 00:00:00,1.0\n").columns == ("timestamp", "value")
    assert check(b"\xef\xbb\xbfdatetime;a;b\n2020-01-01;1;2\n", SKAB_LIKE).columns == ("datetime", "a", "b")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (b"\xff\xfe\xfa bad", "not UTF-8 text"),
        (b"\n\n  \n", "no header line"),
        (b"timestamp,value\n", "header only, no data rows"),
        (b"time,value\n2020-01-01,1\n", "missing column(s) ['timestamp']; header has ['time', 'value']"),
        (b"timestamp;value\n2020-01-01;1\n", "the delimiter looks like ';', the mapping says ','"),
        (b"timestamp,value,value\n2020-01-01,1,2\n", "duplicate column names"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(content: bytes, reason: str) -> None:
    result = check(content)
    assert result.columns == ()
    assert reason in (result.reason or "")


def test_multibyte_character_cut_by_the_read_limit_is_not_an_error() -> None:
    text = "timestamp,value\n2020-01-01,1\n# caf\u00e9".encode()
    assert check_csv_head(text[:-1], len(text) + 100, NAB_LIKE).columns == ("timestamp", "value")


def test_a_local_file_head_is_read_directly_and_equals_hadoops_read(spark, tmp_path) -> None:
    data = bytes(range(256)) * 300  # 76,800 bytes: longer than one head
    path = tmp_path / "a file.csv"
    path.write_bytes(data)
    assert local_file(f"file:{path}") == str(path)
    assert local_file(f"file://{path}") == str(path)
    assert local_file(f"file:{tmp_path / 'missing.csv'}") is None
    assert local_file(f"hdfs://namenode:8020{path}") is None
    direct = read_head(spark, f"file:{path}")
    through_hadoop = read_head(spark, str(path))  # no scheme: Hadoop's default (local) file system
    assert direct == through_hadoop == data[:HEAD_BYTES]
    assert read_head(spark, f"file:{path}", 10) == data[:10]
