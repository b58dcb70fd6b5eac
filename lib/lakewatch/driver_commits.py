"""Small Delta commits made by the driver itself with delta-rs: no Spark job, no Spark transaction.

A micro-batch of a few thousand rows spends most of a Spark Delta append on fixed costs (a job, the snapshot update,
the transaction, the commit), about 0.5-0.8 s each here, and three such writes side by side on two cores made up
most of the score stream's cycle (BENCHMARKS.md "Session 24"). Rows already on the driver, or a few collected as
Arrow, commit here in tens of milliseconds.

Exactly once is kept the way Spark's txnAppId/txnVersion writer options keep it: the commit carries a Delta ``txn``
action (app id, version), and a commit is skipped when the table already holds that app id at that version or later.
The action is part of the Delta protocol, so either writer skips what the other committed for the same pair: a
micro-batch replayed after a crash is skipped whichever path wrote it first. Only tables on a local or mounted file
system are written here (:func:`writable`); any other location keeps Spark's writer, which has its credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from lakewatch.layout import Lakehouse


def local_path(location: str) -> str:
    """A Delta location for delta-rs: a ``file:`` URI as a plain path; any other URI as it is."""
    local = Lakehouse(location).local_root
    return location if local is None else str(local)


def writable(location: str) -> bool:
    """Whether this module writes the table at `location`: a ``file:`` URI or a plain absolute path."""
    return bool(location) and (location.startswith("file:") or location.startswith("/"))


def committed(table: DeltaTable, app_id: str, version: int) -> bool:
    """Whether `table` holds a commit of `app_id` at `version` or later."""
    last = table.transaction_version(app_id)
    return last is not None and last >= version


def append(location: str, rows: pa.Table, app_id: str, version: int, user_metadata: str = "") -> bool:
    """Append `rows` to the Delta table at `location` once per (`app_id`, `version`), with `user_metadata` as the
    commit's userMetadata; False when that pair was already committed (nothing written)."""
    table = DeltaTable(local_path(location))
    if committed(table, app_id, version):
        return False
    write_deltalake(table, _as_table(table, rows), mode="append",
                    commit_properties=_commit(app_id, version, user_metadata))
    return True


def merge(location: str, rows: pa.Table, keys: Sequence[str], app_id: str, version: int,
          since: tuple[str, datetime] | None = None) -> bool:
    """Upsert `rows` into the Delta table at `location` on the columns `keys` (a match updates every column, a new
    key is inserted) once per (`app_id`, `version`); `since` = (column, moment) limits the target to rows with that
    column at or after the moment, so files of older rows are skipped. False when already committed."""
    table = DeltaTable(local_path(location))
    if committed(table, app_id, version):
        return False
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    if since is not None:
        column, moment = since
        condition += f" AND t.`{column}` >= '{moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    (table.merge(_as_table(table, rows), condition, source_alias="s", target_alias="t",
                 commit_properties=_commit(app_id, version))
     .when_matched_update_all().when_not_matched_insert_all().execute())
    return True


def _commit(app_id: str, version: int, user_metadata: str = "") -> CommitProperties:
    return CommitProperties(custom_metadata={"userMetadata": user_metadata} if user_metadata else None,
                            app_transactions=[Transaction(app_id, int(version))])


def _as_table(table: DeltaTable, rows: pa.Table) -> pa.Table:
    """`rows` cast to the table's types for the columns it has (Spark hands timestamps over in the session's zone,
    pandas may widen a type); ValueError naming the columns the table does not have."""
    target = pa.schema(table.schema().to_arrow())
    unknown = [name for name in rows.schema.names if name not in target.names]
    if unknown:
        raise ValueError(f"{table.table_uri}: rows carry columns the table does not have: {', '.join(unknown)}")
    return rows.cast(pa.schema([target.field(name) for name in rows.schema.names]))
