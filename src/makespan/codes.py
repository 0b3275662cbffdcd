"""The finding codes, a public contract: stable, documented in docs/lint.md, cheap to import.

`CODES` are what `makespan lint` finds before a run; `AFTER_RUN_CODES` are what a run observes
(`makespan.aftercheck`). A task file's per-task `ignore` may name either.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["error", "warning", "note"]

CODES: dict[str, tuple[Severity, str]] = {
    "MS101": ("error", "tasks that can run at the same time write overlapping outputs"),
    "MS102": ("error", "a task reads what a task that can run at the same time writes"),
    "MS103": ("error", "a single-writer file is written by concurrent tasks without a lock"),
    "MS201": ("warning", "memory estimates exceed the budget"),
    "MS202": ("warning", "more workers than the machine can use"),
    "MS203": ("warning", "nested parallelism inside a one-slot task"),
    "MS204": ("warning", "far more tiny tasks than slots"),
    "MS301": ("warning", "tasks too fine: overhead dominates"),
    "MS302": ("warning", "a task too coarse: it is most of the critical path"),
    "MS303": ("warning", "uneven task sizes"),
    "MS304": ("warning", "no room to gain: predicted speedup under 2x"),
    "MS401": ("note", "redundant dependency"),
    "MS402": ("note", "tasks without an estimate"),
}

AFTER_RUN_CODES: dict[str, tuple[Severity, str]] = {
    "MS501": ("warning", "a declared output was not produced"),
    "MS502": ("error", "two concurrent tasks changed the same file"),
}
