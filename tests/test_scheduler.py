"""The scheduling policy, driven call by call through its graphlib-style protocol.

Most properties are checked on a *trace*: the scheduler driven on a virtual clock exactly as the
simulator drives it, recording every `start`/`finish` and, after each `start(now)` call, which
tasks run and which ready tasks still wait. Resources are accounted independently of the
scheduler by replaying the trace.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from makespan import scheduler as scheduler_module
from makespan.errors import InputError
from makespan.model import Task, TaskGraph, append_task, open_graph
from makespan.priority import critical_path_first, fifo
from makespan.resources import Resources
from makespan.scheduler import Scheduler, Start
from strategies import Case, cases, durations_for, single_pool_cases, topological_sequences

# ---------------------------------------------------------------------------- driver


@dataclass
class Call:
    """The state right after one `start(now)` call."""

    now: float
    started: list[Start]
    running: dict[int, float]
    """Running task -> its end by the estimates."""
    waiting: list[int]
    """Ready tasks that were not started, best first."""


@dataclass
class Trace:
    case: Case
    position: Sequence[int]
    calls: list[Call] = field(default_factory=list)
    events: list[tuple[float, Start | int]] = field(default_factory=list)
    """(time, Start) for a start, (time, task id) for a finish, in protocol order."""


def drive(
    case: Case, position: Sequence[int] | None = None, actual: Sequence[float] | None = None,
    strict: bool = False,
) -> Trace:
    """Run the scheduler on a virtual clock: tasks take `actual` (default: the estimates)."""
    graph, estimates = case.graph, case.durations
    actual = estimates if actual is None else actual
    position = critical_path_first(graph, estimates) if position is None else position
    sched = Scheduler(graph, case.resources, estimates, position, strict=strict)
    trace = Trace(case, position)
    n = len(graph)
    finished = [False] * n
    began: dict[int, float] = {}
    pending: list[tuple[float, int]] = []
    now = 0.0
    while True:
        starts = sched.start(now)
        for s in starts:
            began[s.task] = now
            trace.events.append((now, s))
            heapq.heappush(pending, (now + actual[s.task], s.task))
        running = {v: t + estimates[v] for v, t in began.items() if not finished[v]}
        waiting = [v for v in range(n) if v not in began
                   and all(finished[u] for u in graph.preds[v])]
        waiting.sort(key=lambda v: position[v])
        trace.calls.append(Call(now, starts, running, waiting))
        assert sched.running == len(running)
        if not pending:
            break
        now = pending[0][0]
        while pending and pending[0][0] == now:
            v = heapq.heappop(pending)[1]
            finished[v] = True
            trace.events.append((now, v))
            sched.finish(v)
    assert sched.done, "the scheduler stopped handing out tasks before the graph was done"
    return trace


def memory_of(case: Case, v: int) -> int:
    return case.graph.tasks[v].memory or 0


def fits(case: Case, v: int, running: Sequence[int]) -> bool:
    """Whether `v` fits next to `running`, by slots, memory and locks (computed afresh)."""
    tasks, task = case.graph.tasks, case.graph.tasks[v]
    slots = sum(tasks[u].slots for u in running if tasks[u].kind == task.kind)
    memory = sum(memory_of(case, u) for u in running)
    held = {lock for u in running for lock in tasks[u].locks}
    return (
        slots + task.slots <= case.resources.slots(task.kind)
        and memory + memory_of(case, v) <= case.resources.memory
        and held.isdisjoint(task.locks)
    )


def earliest_fit(case: Case, v: int, call: Call) -> float:
    """When `v` will fit by the estimated ends of the tasks running after `call`."""
    for t in sorted({call.now, *(max(call.now, end) for end in call.running.values())}):
        if fits(case, v, [u for u, end in call.running.items() if end > t]):
            return t
    raise AssertionError(f"task {v} fits nowhere")  # pragma: no cover - check_fits forbids it


def build(*tasks: Task) -> TaskGraph:
    return TaskGraph.build(tasks)


def task(name: str, estimate: float, *deps: str, **fields: Any) -> Task:
    return Task(name, "true", deps=deps, estimate=estimate, **fields)


def starts_of(graph: TaskGraph, resources: Resources) -> dict[str, float]:
    """Each task's start time when the scheduler is driven with the estimates."""
    trace = drive(Case(graph, resources))
    return {graph.tasks[s.task].name: t for t, s in trace.events if isinstance(s, Start)}


# ---------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_start_fits_in_the_slots_memory_and_locks_left(data: st.DataObject) -> None:
    """Replaying the trace never over-commits a pool, a slot, the memory budget or a lock,
    a task starts only once all its dependencies finished, and every task runs exactly once;
    also when real durations differ from the estimates, for any priority order and for any
    strict sequence."""
    case = data.draw(cases())
    strict = data.draw(st.booleans())
    orders = st.permutations(range(len(case.graph))) | st.none()
    position = data.draw(topological_sequences(case.graph) if strict else orders)
    actual = data.draw(durations_for(case) | st.none())
    trace = drive(case, position, actual, strict)

    graph, res = case.graph, case.resources
    free_slots = {"cpu": set(range(res.cpu)), "io": set(range(res.io))}
    free_memory = res.memory
    holder: dict[str, int] = {}
    state = ["waiting"] * len(graph)
    for _, event in trace.events:
        if isinstance(event, Start):
            v, t = event.task, graph.tasks[event.task]
            assert state[v] == "waiting"
            assert all(state[u] == "finished" for u in graph.preds[v])
            assert event.pool == t.kind
            assert event.slot == event.slots[0]
            assert len(set(event.slots)) == len(event.slots) == t.slots
            assert set(event.slots) <= free_slots[t.kind]
            free_slots[t.kind] -= set(event.slots)
            free_memory -= memory_of(case, v)
            assert free_memory >= 0
            for lock in t.locks:
                assert lock not in holder
                holder[lock] = v
            state[v] = "running"
        else:
            s = next(e for _, e in trace.events if isinstance(e, Start) and e.task == event)
            assert state[event] == "running"
            free_slots[s.pool] |= set(s.slots)
            free_memory += memory_of(case, event)
            for lock in graph.tasks[event].locks:
                del holder[lock]
            state[event] = "finished"
    assert state == ["finished"] * len(graph)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_best_waiting_task_never_fits_after_a_call(data: st.DataObject) -> None:
    """List scheduling: whenever a ready task that fits is left waiting, a better ready task
    that does not fit is waiting too (its reservation is what holds the other back)."""
    case = data.draw(cases())
    actual = data.draw(durations_for(case) | st.none())
    trace = drive(case, actual=actual)
    for call in trace.calls:
        if call.waiting:
            assert not fits(case, call.waiting[0], list(call.running))


@settings(max_examples=150, deadline=None)
@given(single_pool_cases())
def test_no_worker_idles_while_a_task_is_ready_in_one_pool(case: Case) -> None:
    """One pool, single-slot tasks, no memory, no locks: a ready task waits only when every
    worker is busy."""
    for call in drive(case).calls:
        assert not call.waiting or len(call.running) == case.resources.cpu


@settings(max_examples=200, deadline=None)
@given(cases())
def test_the_reserved_start_of_the_best_waiting_task_never_slips(case: Case) -> None:
    """After each call, the best waiting task could start at some time E by the estimates.
    Unless a better task starts meanwhile, the next call either starts it (no later than E)
    or, if it is still the best waiting task, can promise an E no later than before: lower
    tasks only backfill where they cannot delay it."""
    trace = drive(case)
    position = trace.position
    for before, after in pairwise(trace.calls):
        if not before.waiting:
            continue
        top = before.waiting[0]
        promise = earliest_fit(case, top, before)
        if any(position[s.task] < position[top] for s in after.started):
            continue  # a better task overtook it: the promise was to the best task only
        if top in {s.task for s in after.started}:
            assert after.now <= promise
        elif after.waiting[0] == top:
            assert earliest_fit(case, top, after) <= promise


@settings(max_examples=200, deadline=None)
@given(cases())
def test_tasks_started_below_the_best_waiting_task_never_delay_it(case: Case) -> None:
    """Backfilling: the tasks a call starts that rank below the best task left waiting do not
    move the time at which, by the estimates, that task will fit."""
    trace = drive(case)
    for call in trace.calls:
        if not call.waiting:
            continue
        top = call.waiting[0]
        lower = {s.task for s in call.started if trace.position[s.task] > trace.position[top]}
        without = Call(call.now, [], {v: e for v, e in call.running.items() if v not in lower}, [])
        assert earliest_fit(case, top, call) == earliest_fit(case, top, without)


@settings(max_examples=150, deadline=None)
@given(cases())
def test_each_call_starts_tasks_best_first(case: Case) -> None:
    trace = drive(case)
    for call in trace.calls:
        ranks = [trace.position[s.task] for s in call.started]
        assert ranks == sorted(ranks)


@settings(max_examples=150, deadline=None)
@given(single_pool_cases(max_tasks=10))
def test_with_enough_workers_ready_tasks_start_by_upward_rank_then_successors_then_id(
    case: Case,
) -> None:
    """With a worker per task, each call starts every ready task, in the order of (longest
    remaining path including itself, more successors, lower id), computed here afresh."""
    graph, durations = case.graph, case.durations
    case = Case(graph, Resources(cpu=max(1, len(graph)), io=1, memory=1))

    @cache
    def rank(v: int) -> float:
        return durations[v] + max((rank(s) for s in graph.succs[v]), default=0.0)

    for call in drive(case).calls:
        assert not call.waiting
        started = [s.task for s in call.started]
        assert started == sorted(started, key=lambda v: (-rank(v), -len(graph.succs[v]), v))


# ---------------------------------------------------------------------------- priority


def test_ties_in_upward_rank_go_to_more_successors_then_to_graph_order() -> None:
    """
        p(2)    q(1) -> r(1)    s(1) -> t(1)    w(2)    z(3)
                                   \\-> u(1)

    Ranks: z 3; p, q, s, w 2. Among the 2s, s unlocks two tasks, q one, p and w none (p was
    declared first). Five workers start all five roots in one call, in that order.
    """
    graph = build(
        task("p", 2), task("q", 1), task("r", 1, "q"), task("s", 1),
        task("t", 1, "s"), task("u", 1, "s"), task("w", 2), task("z", 3),
    )
    durations = graph.estimates()
    sched = Scheduler(graph, Resources(cpu=5, io=1, memory=1), durations,
                      critical_path_first(graph, durations))
    assert graph.names(s.task for s in sched.start(0.0)) == ["z", "s", "q", "p", "w"]


def test_the_scheduler_follows_the_position_it_is_given() -> None:
    """A position other than critical-path-first (here FIFO) is obeyed as is."""
    graph = build(task("a", 1), task("b", 5), task("c", 3))
    sched = Scheduler(graph, Resources(cpu=1, io=1, memory=1), graph.estimates(), fifo(graph))
    order = []
    for _ in range(3):
        (s,) = sched.start(0.0)
        order.append(s.task)
        sched.finish(s.task)
    assert graph.names(order) == ["a", "b", "c"]


# ---------------------------------------------------------------------------- protocol


def test_the_protocol_hands_out_ready_tasks_and_releases_successors_on_finish() -> None:
    """
        a(1) -> c(1)
        b(2) /
    """
    graph = build(task("a", 1), task("b", 2), task("c", 1, "a", "b"))
    sched = Scheduler(graph, Resources(cpu=2, io=1, memory=1), graph.estimates(),
                      critical_path_first(graph, graph.estimates()))
    first = sched.start(0.0)
    assert [(s.task, s.pool, s.slots) for s in first] == [(1, "cpu", (0,)), (0, "cpu", (1,))]
    assert sched.running == 2
    assert sched.start(0.0) == []
    sched.finish(0)
    assert sched.start(1.0) == []  # c still needs b
    sched.finish(1)
    (c,) = sched.start(2.0)
    assert (c.task, c.slot) == (2, 0)
    assert not sched.done
    sched.finish(2)
    assert sched.done
    assert sched.running == 0


def test_a_task_asking_for_two_slots_waits_for_two_and_gets_two_distinct_ones() -> None:
    """
        a(3)    wide(2, slots=2)    b(1)        on 2 CPU slots

    a takes slot 0; wide is reserved for t=3; b (ends at 1) backfills on slot 1.
    """
    graph = build(task("a", 3), task("wide", 2, slots=2), task("b", 1))
    sched = Scheduler(graph, Resources(cpu=2, io=1, memory=1), graph.estimates(),
                      critical_path_first(graph, graph.estimates()))
    assert [(s.task, s.slots) for s in sched.start(0.0)] == [(0, (0,)), (2, (1,))]
    sched.finish(2)
    assert sched.start(1.0) == []
    sched.finish(0)
    assert [(s.task, s.slots) for s in sched.start(3.0)] == [(1, (0, 1))]


def test_the_memory_argument_overrides_the_tasks_estimates() -> None:
    """Two tasks with no memory estimate, told they need 6 of a budget of 10, run apart."""
    graph = build(task("a", 1), task("b", 1))
    sched = Scheduler(graph, Resources(cpu=2, io=1, memory=10), graph.estimates(),
                      fifo(graph), memory=[6, 6])
    assert [s.task for s in sched.start(0.0)] == [0]


def test_tasks_sharing_a_lock_never_overlap_even_with_workers_free() -> None:
    """
        a(2, lock db)    b(2, lock db)    c(2)        on 3 CPU slots
    """
    graph = build(task("a", 2, locks=("db",)), task("b", 2, locks=("db",)), task("c", 2))
    assert starts_of(graph, Resources(cpu=3, io=1, memory=1)) == {"a": 0, "c": 0, "b": 2}


def test_zero_duration_tasks_run_in_a_chain_at_the_same_instant() -> None:
    """a(0) -> b(0) -> c(0), and d(1) beside them on two workers: the chain ends at once."""
    graph = build(task("a", 0), task("b", 0, "a"), task("c", 0, "b"), task("d", 1))
    assert starts_of(graph, Resources(cpu=2, io=1, memory=1)) == {
        "a": 0, "b": 0, "c": 0, "d": 0,
    }


# ---------------------------------------------------------------------------- strict sequences


def test_a_strict_sequence_leaves_a_slot_idle_rather_than_start_out_of_turn() -> None:
    """The sequence a, c, d, b, e on 2 slots: at 0 only a starts, though b is ready and a
    slot free, because c comes before b; then c and d side by side, then b and e: 4, where
    any priority order gives 5.

        a(1) ──> c(1) ──> e(2)
             └─> d(1) ──┘
        b(2)
    """
    graph = build(task("a", 1), task("b", 2), task("c", 1, "a"), task("d", 1, "a"),
                  task("e", 2, "c", "d"))
    sched = Scheduler(graph, Resources(cpu=2, io=1, memory=1), graph.estimates(),
                      [0, 3, 1, 2, 4], strict=True)
    assert [s.task for s in sched.start(0.0)] == [0]
    sched.finish(0)
    assert [s.task for s in sched.start(1.0)] == [2, 3]
    sched.finish(2)
    assert [s.task for s in sched.start(2.0)] == [1]  # b, next in turn; e still needs d
    sched.finish(3)
    assert [s.task for s in sched.start(2.0)] == [4]


def test_a_strict_sequence_must_list_every_task_after_its_dependencies() -> None:
    graph = build(task("a", 1), task("b", 1, "a"))
    with pytest.raises(ValueError, match="'b' before its dependency 'a'"):
        Scheduler(graph, Resources(cpu=2, io=1, memory=1), graph.estimates(), [1, 0],
                  strict=True)


def test_a_strict_sequence_skips_the_tasks_given_up_after_a_failure() -> None:
    """a fails: b, after it in the sequence and depending on it, is given up, and c goes on.

        a(1) ──> b(1)        c(1)
    """
    graph = build(task("a", 1), task("b", 1, "a"), task("c", 1))
    sched = Scheduler(graph, Resources(cpu=1, io=1, memory=1), graph.estimates(), [0, 1, 2],
                      strict=True)
    assert [s.task for s in sched.start(0.0)] == [0]
    assert sched.fail(0) == [1]
    assert [s.task for s in sched.start(1.0)] == [2]
    sched.finish(2)
    assert sched.done


def test_an_open_graph_in_strict_mode_appends_to_the_sequence_and_skips_withdrawn_tasks() -> None:
    """Tasks added while running come last in the sequence; a withdrawn one (its future
    cancelled) is passed over, even at the head, and no longer counts as unfinished."""
    graph = open_graph()
    sched = Scheduler(graph, Resources(cpu=1, io=1, memory=1), [], [], strict=True)
    for name in "abc":
        sched.add(append_task(graph, task(name, 1)), 1.0)
    assert [s.task for s in sched.start(0.0)] == [0]
    assert sched.withdraw(1)
    sched.finish(0)
    assert [s.task for s in sched.start(1.0)] == [2]
    sched.add(append_task(graph, task("d", 1)), 1.0)
    assert sched.withdraw(3)
    sched.finish(2)
    assert sched.start(2.0) == []
    assert sched.done


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_strict_sequence_starts_tasks_in_its_order(data: st.DataObject) -> None:
    """Both pools, memory and locks: the starts come in sequence order, at times that never
    go back (that each fits is checked with the priority orders above)."""
    case = data.draw(cases())
    sequence = data.draw(topological_sequences(case.graph))
    trace = drive(case, sequence, strict=True)
    started = [(t, s.task) for t, s in trace.events if isinstance(s, Start)]
    assert [sequence[v] for _, v in started] == list(range(len(case.graph)))
    assert [t for t, _ in started] == sorted(t for t, _ in started)


# ---------------------------------------------------------------------------- admission errors


def test_a_task_needing_more_memory_than_the_whole_budget_is_an_input_error() -> None:
    graph = build(task("small", 1, memory=10), task("huge", 1, memory=11))
    with pytest.raises(InputError) as caught:
        Scheduler(graph, Resources(cpu=2, io=1, memory=10), graph.estimates(), fifo(graph))
    assert (caught.value.task, caught.value.field) == ("huge", "memory")


def test_a_task_needing_more_slots_than_its_pool_has_is_an_input_error() -> None:
    graph = build(task("fat", 1, kind="io", slots=3))
    with pytest.raises(InputError) as caught:
        Scheduler(graph, Resources(cpu=4, io=2, memory=1), graph.estimates(), fifo(graph))
    assert (caught.value.task, caught.value.field) == ("fat", "slots")


# ---------------------------------------------------------------------------- reservations


def test_a_big_task_is_not_overtaken_by_a_stream_of_small_ones() -> None:
    """
        a(1) -> big(5, memory 10)         budget: 3 CPU slots, memory 10
        s1(1.5)  s2(2.5)  s3..s12(2)      each memory 1, independent

    At t=0 a, s2 and s3 start. When a ends (t=1) big is the best ready task but s2 and s3
    hold memory until 2.5: big is reserved for 2.5, and no small task may start if it would
    still hold memory then (s1 ends exactly at 2.5, so it may). Without the reservation a
    new small task would start at every completion and big would wait for the whole stream.
    """
    small = [task("s1", 1.5, memory=1), task("s2", 2.5, memory=1)]
    small += [task(f"s{i}", 2, memory=1) for i in range(3, 13)]
    graph = build(task("a", 1), task("big", 5, "a", memory=10), *small)
    starts = starts_of(graph, Resources(cpu=3, io=1, memory=10))
    assert starts["big"] == 2.5
    assert starts["s1"] == 1
    assert all(starts[f"s{i}"] >= 7.5 for i in range(4, 13))


def test_a_task_waiting_for_a_slot_in_a_full_pool_still_holds_its_reservation() -> None:
    """
        a(1, io) -> big(10, cpu, memory 10)    c(3, cpu)
        s1..s6(2, io, memory 1 each)           budget: 1 CPU, 2 I/O slots, memory 10

    When a ends (t=1), big is the best ready task but the one CPU slot is c's until 3. big
    must be reserved for t=3 then, although its pool has no free slot: an I/O task that would
    still hold memory at 3 may not start (s3 at t=2 would end at 4), one ending by 3 may (s2).
    """
    io = [task(f"s{i}", 2, kind="io", memory=1) for i in range(1, 7)]
    graph = build(task("a", 1, kind="io"), task("big", 10, "a", memory=10), task("c", 3), *io)
    starts = starts_of(graph, Resources(cpu=1, io=2, memory=10))
    assert starts["big"] == 3
    assert (starts["s1"], starts["s2"], starts["s3"]) == (0, 1, 13)


@pytest.mark.parametrize(
    ("estimate", "memory", "start"),
    [
        (2, 3, 0),  # ends at 2, before big's reservation at 4: fills the hole
        (5, 2, 0),  # runs past 4 but takes only memory big leaves spare (10 - 8)
        (5, 3, 10),  # would hold memory big needs at 4: waits until big is done
    ],
)
def test_a_lower_task_backfills_only_where_it_cannot_delay_the_reservation(
    estimate: float, memory: int, start: float
) -> None:
    """
        hold(4, memory 6) -> tail(3)      big(6, memory 8)      small(estimate, memory)

    Budget: 3 CPU slots, memory 10. hold starts first (rank 7); big (rank 6) does not fit
    beside it and is reserved for t=4; small (rank <= 5) has 4 bytes of memory now.
    """
    graph = build(
        task("hold", 4, memory=6), task("tail", 3, "hold"), task("big", 6, memory=8),
        task("small", estimate, memory=memory),
    )
    starts = starts_of(graph, Resources(cpu=3, io=1, memory=10))
    assert starts["big"] == 4
    assert starts["small"] == start


def test_backfilling_starts_every_task_that_cannot_delay_the_reservation() -> None:
    """
        a(3)    wide(2, slots=2)          on 2 CPU slots
        io0 .. io99(1, io)                on 100 I/O slots

    wide waits for a; the hundred I/O tasks touch nothing wide needs, so they all start at
    once: the backfill depth bounds the blocked tasks looked at, not the tasks started.
    """
    io = [task(f"io{i}", 1, kind="io") for i in range(100)]
    graph = build(task("a", 3), task("wide", 2.5, slots=2), *io)
    sched = Scheduler(graph, Resources(cpu=2, io=100, memory=1), graph.estimates(),
                      critical_path_first(graph, graph.estimates()))
    started = sched.start(0.0)
    assert len(started) == 101
    assert scheduler_module.BACKFILL_DEPTH < 100
