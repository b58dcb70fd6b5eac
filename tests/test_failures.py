"""cli.resource_message: the one line a job prints when Spark runs out of memory or loses an executor or its
driver, told apart from every other error (which keeps its own message)."""

from __future__ import annotations

from lakewatch.cli import resource_message


def _raised_from(outer: str, inner: str) -> Exception:
    try:
        try:
            raise RuntimeError(inner)
        except RuntimeError as cause:
            raise ValueError(outer) from cause
    except ValueError as exc:
        return exc


def test_out_of_memory_names_the_stage_the_heap_and_what_to_change() -> None:
    exc = _raised_from("An error occurred while calling o71.saveAsTable",
                       "Job aborted due to stage failure: Task 3 in stage 9.0 failed 1 times, most recent failure: "
                       "Lost task 3.0 (executor driver): java.lang.OutOfMemoryError: Java heap space\n\tat x.y(z)")
    line = resource_message("refine", "write silver.readings", "8g", exc)
    assert line is not None and "\n" not in line
    assert line.startswith("refine: stage 'write silver.readings' ran out of memory "
                           "(java.lang.OutOfMemoryError: Java heap space) with a 8g driver heap")
    assert "--driver-memory" in line and "spark.rows_per_partition" in line


def test_lost_executors_and_a_gone_driver_are_told_apart() -> None:
    lost = resource_message("features", None, "1g", RuntimeError("ExecutorLostFailure (executor 2 exited)"))
    assert lost is not None and lost.startswith("features lost an executor")
    gone = resource_message("ingest", "read source", "1g", ConnectionError("Answer from Java side is empty"))
    assert gone is not None and gone.startswith("ingest: stage 'read source': the Spark driver stopped")


def test_other_errors_are_not_resource_failures() -> None:
    assert resource_message("refine", "x", "1g", _raised_from("boom", "a column is missing")) is None


def test_stop_on_signals_sets_its_event_and_says_so(capsys) -> None:
    import os
    import signal

    from lakewatch.cli import stop_on_signals

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = stop_on_signals("score_stream", "batch")
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        said = capsys.readouterr().err
        assert f"[score_stream] signal {int(signal.SIGTERM)}: stopping after the running batch" in said
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
