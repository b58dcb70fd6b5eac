"""Hyperopt behind the :class:`~lakewatch.tuning.base.Tuner` interface: TPE over the search space, trials run as
Spark tasks with ``SparkTrials`` (classic session, not Spark Connect) or in-process without a session.

Each SparkTrials trial is one single-node Spark task running the objective on an executor; the trial returns its
result to the driver and logs nothing itself (MLflow is written from the driver afterwards).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, tpe
from hyperopt.exceptions import AllTrialsFailed
from pyspark.sql import SparkSession

from lakewatch.tuning.base import (
    Objective,
    ParamSpec,
    SearchSpace,
    TrialResult,
    Tuner,
    TuningError,
    TuningResult,
    summarise,
)


def _expression(spec: ParamSpec) -> Any:
    args = spec.args
    if spec.kind == "uniform":
        return hp.uniform(spec.name, float(args[0]), float(args[1]))
    if spec.kind == "loguniform":
        return hp.loguniform(spec.name, math.log(args[0]), math.log(args[1]))
    if spec.kind == "quniform":
        return hp.quniform(spec.name, float(args[0]), float(args[1]), float(args[2]))
    if spec.kind == "int":
        return hp.uniformint(spec.name, int(args[0]), int(args[1]))
    if spec.kind == "choice":
        return hp.choice(spec.name, list(args))
    raise TuningError(f"search space {spec.name}: kind {spec.kind!r} has no Hyperopt expression")


def hyperopt_space(space: SearchSpace) -> dict[str, Any]:
    """The Hyperopt expression for each dimension of ``space``, by parameter name."""
    return {spec.name: _expression(spec) for spec in space}


class _TrialFunction:
    """What Hyperopt calls per trial (pickled to the executor): casts the sample, runs the objective, and returns
    Hyperopt's result dict; an exception becomes a failed trial carrying its message."""

    def __init__(self, objective: Objective, space: SearchSpace) -> None:
        self.objective = objective
        self.space = space

    def __call__(self, sampled: dict[str, Any]) -> dict[str, Any]:
        params = {spec.name: spec.cast(sampled[spec.name]) for spec in self.space}
        began = time.perf_counter()
        try:
            result = self.objective(params)
            loss = float(result.loss)
            if not math.isfinite(loss):
                raise TuningError(f"objective returned a non-finite loss {loss!r}")
        except Exception as exc:  # a trial's failure is its result, not the search's
            return {"status": STATUS_FAIL, "params": params, "error": f"{type(exc).__name__}: {exc}",
                    "seconds": time.perf_counter() - began}
        return {"status": STATUS_OK, "loss": loss, "params": params, "metrics": dict(result.metrics),
                "seconds": result.seconds or time.perf_counter() - began}


def _trial_result(number: int, trial: dict[str, Any]) -> TrialResult:
    result = trial.get("result") or {}
    ok = result.get("status") == STATUS_OK
    return TrialResult(
        number=number, params=dict(result.get("params") or {}), status="ok" if ok else "fail",
        loss=float(result["loss"]) if ok else None, metrics=dict(result.get("metrics") or {}),
        seconds=float(result.get("seconds") or 0.0),
        error=None if ok else str(result.get("error") or result.get("failure") or result.get("status")),
    )


class HyperoptTuner(Tuner):
    """TPE search with Hyperopt; ``spark`` given: trials run as Spark tasks (SparkTrials), else in-process."""

    def __init__(self, spark: SparkSession | None = None, seed: int = 0) -> None:
        self.spark = spark
        self.seed = seed

    def _trials(self, parallelism: int) -> Trials:
        if self.spark is None:
            return Trials()
        from hyperopt import SparkTrials

        requested = parallelism if parallelism > 0 else self.spark.sparkContext.defaultParallelism
        return SparkTrials(parallelism=requested, spark_session=self.spark)

    def search(self, objective: Objective, space: SearchSpace, max_evals: int, parallelism: int) -> TuningResult:
        """Run TPE for ``max_evals`` trials, ``parallelism`` at a time (0: Spark's default parallelism)."""
        if not isinstance(max_evals, int) or max_evals < 1:
            raise TuningError(f"max_evals must be a positive integer, got {max_evals!r}")
        if not space:
            raise TuningError("the search space is empty; expected at least one parameter")
        trials = self._trials(parallelism)
        with contextlib.suppress(AllTrialsFailed):  # summarise() reports the trials' own errors
            fmin(_TrialFunction(objective, space), hyperopt_space(space), algo=tpe.suggest, max_evals=max_evals,
                 trials=trials, rstate=np.random.default_rng(self.seed), show_progressbar=False)
        done = sorted(trials.trials, key=lambda t: t["tid"])
        return summarise([_trial_result(i, trial) for i, trial in enumerate(done)])
