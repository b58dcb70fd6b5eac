"""A record order for rows read from files that follows the files, not Spark's read order.

Spark cuts a file larger than a split into splits and packs them into read tasks sorted by size, largest first,
so a file's short last split is read after the next file's first split; ``monotonically_increasing_id()`` alone
(the read order) would put those rows after rows that follow them in the files. The order built here is, in one
long: the file's rank among the files read (by path), then its split (the split's start in the file), then the
row's place in its read task (the low 33 bits of ``monotonically_increasing_id()``: a task reads its splits one
after the other, each from start to end, so within one split that place follows the file).

The three parts share the 63 bits of a long by what this read needs: enough bits for the number of files, for
the largest file's split starts, and the rest for the rows of a task. Split starts are multiples of Spark's split
size, which is never below ``min(spark.sql.files.maxPartitionBytes, spark.sql.files.openCostInBytes)``
(FilePartition.maxSplitBytes), so the start is counted in units of the largest power of two not above that.
A task holding more rows than its bits can count fails the read with a message saying so, rather than write a
wrong order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from lakewatch.errors import SourceError

ORDER_BITS = 63
TASK_ROW_BITS = 33  # monotonically_increasing_id(): partition id above, row number in the task in the low 33 bits


@dataclass(frozen=True)
class FileOrderLayout:
    """How a file's rank, a split's start and a row's place in its task share one long."""

    file_bits: int
    split_shift: int
    split_bits: int
    row_bits: int

    @property
    def position_bits(self) -> int:
        """Bits of a row's position within its file (split, then row in the task)."""
        return self.split_bits + self.row_bits

    def position_in_file(self, source_name: str) -> Column:
        """A row's position in its file, increasing with the file's lines; evaluate it on the scan itself (before
        any join or shuffle), where the task is the one that read the row."""
        row = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << TASK_ROW_BITS) - 1))
        split = F.shiftright(F.col("_metadata.file_block_start"), self.split_shift)
        position = F.shiftleft(split, self.row_bits).bitwiseOR(row)
        if self.row_bits >= TASK_ROW_BITS:
            return position
        limit = 1 << self.row_bits
        message = (f"source '{source_name}': a read task holds more than {limit} rows, too many for a record order "
                   f"beside {1 << self.file_bits} file rank(s) and {1 << self.split_bits} split(s) per file; "
                   "ingest fewer or smaller files at a time, or lower spark.sql.files.maxPartitionBytes")
        return F.when(row >= F.lit(limit), F.raise_error(F.lit(message))).otherwise(position)

    def record_order(self, file_rank: Column, position: Column) -> Column:
        """The record order of a row: its file's rank (0 = first file by path) above its position in the file."""
        return F.shiftleft(file_rank.cast("long"), self.position_bits).bitwiseOR(position)


def split_unit_shift(spark: SparkSession) -> int:
    """log2 of the largest power of two not above Spark's smallest possible split size for this session."""
    conf = spark._jsparkSession.sessionState().conf()
    unit = min(int(conf.filesMaxPartitionBytes()), int(conf.filesOpenCostInBytes()))
    return max(unit, 1).bit_length() - 1


def file_order_layout(source_name: str, files: int, largest_bytes: int, split_shift: int) -> FileOrderLayout:
    """The layout for `files` files, the largest `largest_bytes` long, with split starts counted in 2**split_shift
    bytes. Raises SourceError when no bit would be left for the rows."""
    file_bits = max(files - 1, 0).bit_length()
    split_bits = (max(largest_bytes - 1, 0) >> split_shift).bit_length()
    row_bits = min(ORDER_BITS - file_bits - split_bits, TASK_ROW_BITS)
    if row_bits < 1:
        raise SourceError(f"source '{source_name}': {files} files up to {largest_bytes} bytes leave no room for a "
                          "record order (a 63-bit long); ingest fewer files at a time")
    return FileOrderLayout(file_bits=file_bits, split_shift=split_shift, split_bits=split_bits, row_bits=row_bits)
