"""conf/workflows.yaml: the one definition of lakewatch's schedules, read by the Airflow DAGs and turned into
the Databricks bundle.

A workflow is a schedule and a graph of tasks; a task runs one lakewatch job with its arguments (or, on
Databricks only, one of the notebooks). Retries, their delay and back-off, the timeout and whether a failure
alerts come from ``defaults:``, then the workflow's ``defaults:``, then the task. Everything is checked on load,
before anything runs: an unknown job, a dependency cycle, a bad schedule or an unknown key stops the load with
a :class:`WorkflowError` naming the file and the line of the offending entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakewatch.config import Flag, NonNegativeInt, PositiveInt, default_conf_dir, project_root, validated
from lakewatch.entry import job_names
from lakewatch.errors import ConfigError
from lakewatch.workflows.schedules import schedule_problem

WORKFLOWS_FILE = "workflows.yaml"
#: Environment variable naming another definition file (tests, a second deployment).
WORKFLOWS_ENV = "LAKEWATCH_WORKFLOWS"


class WorkflowError(ConfigError):
    """A workflow definition is malformed: the message names the file, the line and the entry."""


@dataclass(frozen=True)
class TaskPolicy:
    """How a task is retried, timed out and reported: `retries` more tries after a failure, the first
    `retry_delay_seconds` later, doubling each time when `exponential_backoff` up to `max_retry_delay_seconds`;
    the run is stopped after `timeout_minutes`; a final failure alerts when `alert_on_failure`."""

    retries: NonNegativeInt = 2
    retry_delay_seconds: PositiveInt = 60
    exponential_backoff: Flag = True
    max_retry_delay_seconds: PositiveInt = 1800
    timeout_minutes: PositiveInt = 60
    alert_on_failure: Flag = True


_POLICY_KEYS = frozenset(TaskPolicy.__dataclass_fields__)


@dataclass(frozen=True)
class _TaskEntry:
    """The keys a task entry may have besides its policy (checked by lakewatch.config.validated)."""

    job: str | None = None
    args: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    notebook: str | None = None
    notebook_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One task: `job` (a lakewatch job) with `args`, or `notebook` (a path under the project root, run on
    Databricks only) with `notebook_params`; it starts when every task in `depends_on` has succeeded."""

    name: str
    job: str | None
    args: tuple[str, ...]
    depends_on: tuple[str, ...]
    policy: TaskPolicy
    notebook: str | None = None
    notebook_params: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def runs_on_airflow(self) -> bool:
        """Whether Airflow runs this task (job tasks; notebooks need a Databricks workspace)."""
        return self.job is not None

    def command(self) -> list[str]:
        """The job and its arguments as the launcher takes them: ``./spark-submit.sh <job> <args>``."""
        if self.job is None:
            raise WorkflowError(f"task {self.name!r} is a notebook task; it has no launcher command")
        return [self.job, *self.args]


@dataclass(frozen=True)
class Workflow:
    """A named graph of tasks run on `schedule` (a preset such as @hourly, five-field cron, or None: only when
    started by hand)."""

    name: str
    description: str
    schedule: str | None
    tasks: tuple[Task, ...]
    line: int = 0

    def task(self, name: str) -> Task:
        """The task called `name`."""
        return next(t for t in self.tasks if t.name == name)

    def order(self) -> list[str]:
        """The task names in an order where every task follows its dependencies (stable: file order on ties)."""
        done: list[str] = []
        pending = list(self.tasks)
        while pending:
            ready = next(t for t in pending if set(t.depends_on) <= set(done))
            done.append(ready.name)
            pending.remove(ready)
        return done


@dataclass(frozen=True)
class WorkflowFile:
    """A whole definition file: its path and its workflows in file order."""

    path: Path
    workflows: tuple[Workflow, ...]

    def workflow(self, name: str) -> Workflow:
        """The workflow called `name`; WorkflowError naming the ones there are otherwise."""
        for workflow in self.workflows:
            if workflow.name == name:
                return workflow
        raise WorkflowError(f"{self.path}: no workflow {name!r}; expected one of {[w.name for w in self.workflows]}")


def default_workflows_path() -> Path:
    """$LAKEWATCH_WORKFLOWS, else conf/workflows.yaml (the project's, or the copy an installed wheel carries)."""
    env = os.environ.get(WORKFLOWS_ENV)
    return Path(env) if env else default_conf_dir() / WORKFLOWS_FILE


def load_workflows(path: str | Path | None = None) -> WorkflowFile:
    """Read and check a workflow definition (default :func:`default_workflows_path`); WorkflowError naming the
    file, the line and the entry for anything wrong in it."""
    path = Path(path) if path is not None else default_workflows_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read the workflow definition ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: not valid YAML: {exc}") from None
    return _Reader(path, root).workflow_file(data)


class _Reader:
    """Turns the parsed YAML into a WorkflowFile, naming `path` and the line of each entry in its errors."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path = path
        self.root = root
        self.jobs = job_names()

    def line(self, *keys: str) -> int:
        """The 1-based line of the entry at `keys` (the key's own line), or of the nearest entry above it."""
        node, line = self.root, 1
        for key in keys:
            if not isinstance(node, yaml.MappingNode):
                break
            for key_node, value_node in node.value:
                if key_node.value == key:
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                break
        return line

    def error(self, keys: tuple[str, ...], message: str) -> WorkflowError:
        where = ".".join(keys)
        return WorkflowError(f"{self.path} line {self.line(*keys)}: {where}: {message}")

    def mapping(self, value: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(keys, f"found {type(value).__name__} {value!r}; expected a mapping")
        return value

    def workflow_file(self, data: Any) -> WorkflowFile:
        top = self.mapping(data, ("(top)",))
        unknown = sorted(set(top) - {"defaults", "workflows"})
        if unknown:
            raise self.error((str(unknown[0]),), "unknown key; expected 'defaults' and 'workflows'")
        defaults = self.policy_values(top.get("defaults"), ("defaults",))
        workflows = self.mapping(top.get("workflows"), ("workflows",))
        if not workflows:
            raise self.error(("workflows",), "no workflows; expected at least one")
        return WorkflowFile(self.path, tuple(self.workflow(str(name), body, defaults)
                                             for name, body in workflows.items()))

    def policy_values(self, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
        values = dict(self.mapping(value, keys))
        unknown = sorted(set(values) - _POLICY_KEYS)
        if unknown:
            raise self.error((*keys, str(unknown[0])), f"unknown key; expected some of {sorted(_POLICY_KEYS)}")
        self.checked(TaskPolicy, values, keys)
        return values

    def checked(self, cls: type, values: Mapping[str, Any], keys: tuple[str, ...], **extra: Any) -> Any:
        try:
            return validated(cls, values, ".".join(keys), error=WorkflowError, **extra)
        except WorkflowError as exc:
            raise WorkflowError(f"{self.path} line {self.line(*keys)}: {exc}") from None

    def workflow(self, name: str, body: Any, defaults: Mapping[str, Any]) -> Workflow:
        keys = ("workflows", name)
        body = self.mapping(body, keys)
        unknown = sorted(set(body) - {"description", "schedule", "defaults", "tasks"})
        if unknown:
            raise self.error((*keys, str(unknown[0])),
                             "unknown key; expected some of ['defaults', 'description', 'schedule', 'tasks']")
        schedule = body.get("schedule")
        if schedule is not None:
            problem = schedule_problem(str(schedule)) if isinstance(schedule, str) else "expected a string"
            if problem:
                raise self.error((*keys, "schedule"), f"bad schedule {schedule!r}: {problem}")
        merged = {**defaults, **self.policy_values(body.get("defaults"), (*keys, "defaults"))}
        entries = self.mapping(body.get("tasks"), (*keys, "tasks"))
        if not entries:
            raise self.error((*keys, "tasks"), "no tasks; expected at least one")
        tasks = tuple(self.task(keys, str(task), entry, merged) for task, entry in entries.items())
        workflow = Workflow(name, str(body.get("description") or ""), schedule, tasks, self.line(*keys))
        self.check_graph(workflow)
        return workflow

    def task(self, workflow_keys: tuple[str, ...], name: str, entry: Any, defaults: Mapping[str, Any]) -> Task:
        keys = (*workflow_keys, "tasks", name)
        entry = dict(self.mapping(entry, keys))
        policy_values = {k: entry.pop(k) for k in list(entry) if k in _POLICY_KEYS}
        for key in ("args", "depends_on"):
            if isinstance(entry.get(key), str):
                raise self.error((*keys, key), f"found the string {entry[key]!r}; expected a list")
        fields: _TaskEntry = self.checked(_TaskEntry, entry, keys)
        policy: TaskPolicy = self.checked(TaskPolicy, {**defaults, **policy_values}, keys)
        if (fields.job is None) == (fields.notebook is None):
            raise self.error(keys, "expected exactly one of 'job' (a lakewatch job) and 'notebook'")
        if fields.job is not None and fields.job not in self.jobs:
            raise self.error((*keys, "job"), f"unknown job {fields.job!r}; expected one of {self.jobs}")
        if fields.notebook is not None:
            # Notebooks live in the checkout (the bundle uploads them); an installed wheel has none to look at.
            if (project_root() / "notebooks").is_dir() and not (project_root() / fields.notebook).is_file():
                raise self.error((*keys, "notebook"), f"no notebook {fields.notebook} under {project_root()}")
        elif fields.notebook_params:
            raise self.error((*keys, "notebook_params"), "notebook_params without a notebook")
        return Task(name, fields.job, tuple(fields.args), tuple(fields.depends_on), policy, fields.notebook,
                    dict(fields.notebook_params), self.line(*keys))

    def check_graph(self, workflow: Workflow) -> None:
        names = {task.name for task in workflow.tasks}
        keys = ("workflows", workflow.name, "tasks")
        for task in workflow.tasks:
            for upstream in task.depends_on:
                if upstream not in names:
                    raise self.error((*keys, task.name, "depends_on"),
                                     f"unknown task {upstream!r}; expected one of {sorted(names)}")
                if workflow.task(upstream).notebook is not None and task.job is not None:
                    raise self.error((*keys, task.name, "depends_on"),
                                     f"depends on notebook task {upstream!r}, which only Databricks runs; "
                                     "a job task may not follow a notebook task")
        cycle = _find_cycle({task.name: task.depends_on for task in workflow.tasks})
        if cycle:
            raise self.error((*keys, cycle[0]), f"dependency cycle {' -> '.join(cycle)}")


def _find_cycle(graph: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A cycle of `graph` (task -> its dependencies) as [a, b, ..., a] following dependencies; [] if none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for start in graph:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []
