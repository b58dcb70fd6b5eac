"""Machines by default: which configured sources' series the score stream scores as multichannel entities.

A source that knows its channels makes each of its series a machine (one entity, key (series_id, '*'),
lakewatch.streaming.entities) without a line of ``streaming.entities.series``:

* the generated ``machines`` source: its ``machines.channels`` sensors ``s0``, ``s1``, ...;
* a files source with two or more ``channel_columns`` (a wide CSV): those columns, in their configured order.

``machines.entity: false`` or ``sources.<name>.entity: false`` turns a source's rule off; a series matching a glob
of ``streaming.entities.series`` takes that glob's channels instead (the globs come first).

A reading belongs to a source by its ``source`` column in silver.readings, written once at ingest:
``machines://seed=<seed>/<series_id>`` for a machine, the file's qualified path (under the source's configured
``path``) for a files source. So whether a reading is a machine's is decided by the configuration and by the
reading itself, never by which channels have arrived so far: a series' key does not move between
(series_id, channel) and (series_id, '*') from one micro-batch or restart to the next. A source read with
``--path`` from elsewhere than its configured path is not recognised: list its series in
``streaming.entities.series``.

A rule takes part only when silver.readings holds readings of its source when the stream starts (one Spark
action probing for one reading per rule; the range on the `source` prefix lets Delta skip files from their min/max
statistics), so a lakehouse of univariate series keeps the plain plan: no rule, no extra column. A machine source
first ingested while a stream is running is scored channel by channel until that stream restarts (README,
"Machines").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.config import LakewatchConfig
from lakewatch.sources.filesystem import hadoop_path
from lakewatch.sources.machine_source import SOURCE_NAME as MACHINES
from lakewatch.sources.machine_source import sensor_names
from lakewatch.streaming.packing import ENTITY_RULE


@dataclass(frozen=True)
class SourceRule:
    """The readings of source `name` whose `source` starts with `prefix` (or equals `exact`) are readings of a
    machine with `channels`; `why` says where the channels come from."""

    name: str
    channels: tuple[str, ...]
    prefix: str
    exact: str = ""
    why: str = ""

    def matches(self, source: Column | None = None) -> Column:
        """Whether a reading's `source` column is this rule's source. The range on the prefix lets Delta's data
        skipping rule out files from their min/max statistics alone."""
        col = F.col("source") if source is None else source
        upper = self.prefix[:-1] + chr(ord(self.prefix[-1]) + 1)
        cond = (col >= F.lit(self.prefix)) & (col < F.lit(upper)) & col.startswith(self.prefix)
        return cond | (col == F.lit(self.exact)) if self.exact else cond

    def describe(self) -> str:
        """One line for the stream's start: the source, its channels and why."""
        return f"source {self.name} ({len(self.channels)} channels {', '.join(self.channels)}; {self.why})"


def source_rules(spark: SparkSession, config: LakewatchConfig) -> tuple[tuple[SourceRule, ...], list[str]]:
    """The rules of the configured sources that know their channels (module docstring), and a line per
    multichannel source left out and why (its switch is off)."""
    rules: list[SourceRule] = []
    skipped: list[str] = []
    if config.machines.entity:
        rules.append(SourceRule(MACHINES, tuple(sensor_names(config.machines.channels)), f"{MACHINES}://",
                                why="machines.channels"))
    else:
        skipped.append(f"source {MACHINES}: machines.entity is false")
    for name, spec in sorted(config.sources.items()):
        if len(spec.channel_columns) < 2:
            continue
        if not spec.entity:
            skipped.append(f"source {name}: sources.{name}.entity is false")
            continue
        fs, path = hadoop_path(spark, spec.path)
        root = fs.makeQualified(path).toString().rstrip("/")  # as lakewatch.sources.filesystem.list_files has it
        rules.append(SourceRule(name, tuple(spec.channel_columns), f"{root}/", exact=root,
                                why=f"sources.{name}.channel_columns"))
    return tuple(rules), skipped


def with_readings(spark: SparkSession, table: str, rules: Sequence[SourceRule]) -> tuple[SourceRule, ...]:
    """The rules whose source has at least one reading in `table` (silver.readings) now: one Spark action, a
    probe of at most one row per rule."""
    if not rules or not spark.catalog.tableExists(table):
        return ()
    readings = spark.table(table)
    probes = [readings.where(r.matches()).select(F.lit(i).alias("rule")).limit(1) for i, r in enumerate(rules)]
    found = {row["rule"] for row in reduce(DataFrame.unionByName, probes).collect()}
    return tuple(r for i, r in enumerate(rules) if i in found)


def rule_column(rules: Sequence[SourceRule]) -> Column:
    """The index (int) of the first rule a reading's `source` matches, null for none: the readings' column
    entity_rule (lakewatch.streaming.packing)."""
    column = F.when(rules[0].matches(), F.lit(0))
    for i, rule in enumerate(rules[1:], start=1):
        column = column.when(rule.matches(), F.lit(i))
    return column.cast("int").alias(ENTITY_RULE.name)
