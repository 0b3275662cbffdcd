"""Reachability queries on a task graph: does one task (transitively) depend on another?

Two tasks can run at the same time exactly when neither reaches the other. For graphs of up to
`BITSET_LIMIT` tasks the ancestors of every task are kept as one integer bitset each (n^2 / 8
bytes: 12.5 MB at 10,000 tasks), built in one pass over the topological order, so a query is a
shift and a mask. Larger graphs answer each query with a search that only visits tasks between
the two in topological order.
"""

from __future__ import annotations

from makespan.model import TaskGraph

BITSET_LIMIT = 20_000


class Reach:
    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self._rank = [0] * len(graph)
        for r, v in enumerate(graph.order):
            self._rank[v] = r
        self._ancestors: list[int] | None = None
        if len(graph) <= BITSET_LIMIT:
            ancestors = [0] * len(graph)
            for v in graph.order:
                bits = 0
                for p in graph.preds[v]:
                    bits |= ancestors[p] | (1 << p)
                ancestors[v] = bits
            self._ancestors = ancestors

    @property
    def exact_for_all(self) -> bool:
        """Whether many queries are cheap (bitsets), so checks may ask them freely."""
        return self._ancestors is not None

    def reaches(self, u: int, v: int) -> bool:
        """Whether `v` depends on `u`, directly or through other tasks."""
        if u == v:
            return False
        if self._ancestors is not None:
            return bool(self._ancestors[v] >> u & 1)
        if self._rank[u] > self._rank[v]:
            return False
        limit = self._rank[v]
        seen = {u}
        stack = [u]
        succs = self.graph.succs
        while stack:
            for s in succs[stack.pop()]:
                if s == v:
                    return True
                if s not in seen and self._rank[s] < limit:
                    seen.add(s)
                    stack.append(s)
        return False

    def ordered(self, u: int, v: int) -> bool:
        """Whether a dependency chain orders `u` and `v` (so they never run together)."""
        return self.reaches(u, v) or self.reaches(v, u)
