"""Whether two path globs can match the same path, without touching the filesystem.

Task files declare what tasks read and write as globs (`build/*.o`, `reports/**`). Two tasks race
when some path matches a glob of each, so the question is whether the two patterns' languages
intersect. Patterns are compared segment by segment (`/`-separated): `**` matches any number of
segments, and within a segment `*`, `?` and `[...]` are wildcards. Both comparisons are the same
small dynamic program over pairs of positions, so the answer is exact and fast.

A declared output also covers everything under it (a task that writes `build` may write
`build/x.o`), which `overlaps` checks by extending both patterns with `/**`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

_WILD = frozenset("*?[")
Token = str


def is_glob(pattern: str) -> bool:
    return any(c in _WILD for c in pattern)


def literal_prefix(pattern: str) -> str:
    """The text every match starts with: the pattern up to its first wildcard."""
    for i, c in enumerate(pattern):
        if c in _WILD:
            return pattern[:i]
    return pattern


def normalize(pattern: str) -> str:
    """A relative pattern without `./`, doubled or trailing slashes."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    return "/".join(parts)


def overlaps(a: str, b: str) -> bool:
    """Whether a path exists that lies at or under a match of `a` and of `b`."""
    return intersect(_under(normalize(a)), _under(normalize(b)))


def intersect(a: str, b: str) -> bool:
    """Whether some path matches both glob patterns."""
    return _intersect_segments(tuple(a.split("/")), tuple(b.split("/")))


def _under(pattern: str) -> str:
    return f"{pattern}/**" if pattern else "**"


@lru_cache(maxsize=65536)
def _intersect_segments(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return _common_word(a, b, lambda s: s == "**", _segments_meet)


def _segments_meet(x: str, y: str) -> bool:
    """Whether one path segment matches both segment patterns (`**` never reaches here)."""
    return _common_word(_tokens(x), _tokens(y), lambda t: t == "*", _chars_meet)


def _common_word(
    a: Sequence[Token], b: Sequence[Token], is_star: Callable[[Token], bool],
    meet: Callable[[Token, Token], bool],
) -> bool:
    """Whether a word exists that both token patterns match.

    A star matches any run of units; any other token matches one unit, and two such tokens
    can stand for the same unit when `meet` says so. Search over position pairs (i, j).
    """
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        a_star = i < len(a) and is_star(a[i])
        b_star = j < len(b) and is_star(b[j])
        # A star absorbs the other side's next token (or star) only if something matches
        # that token: an empty class such as [b-a] (or a segment holding one) matches nothing.
        if a_star:
            stack.append((i + 1, j))  # the star matches nothing more
            if j < len(b) and (b_star or meet(b[j], b[j])):
                stack.append((i, j + 1))
        if b_star:
            stack.append((i, j + 1))
            if i < len(a) and (a_star or meet(a[i], a[i])):
                stack.append((i + 1, j))
        if i < len(a) and j < len(b) and not a_star and not b_star and meet(a[i], b[j]):
            stack.append((i + 1, j + 1))
    return False


def _tokens(segment: str) -> list[Token]:
    """Split a segment pattern into `*`, `?`, `[...]` classes and literal characters."""
    tokens: list[Token] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "[":
            # As fnmatch reads it: a "]" right after "[" or "[!" is a member, not the end
            # ("[!]]" is "not ]"), and "[" without a closing "]" is a literal.
            start = i + 2 if segment[i + 1:i + 2] == "!" else i + 1
            end = segment.find("]", start + 1 if segment[start:start + 1] == "]" else start)
            if end != -1:
                tokens.append(segment[i:end + 1])
                i = end + 1
                continue
        if not (c == "*" and tokens and tokens[-1] == "*"):  # "**" in a segment is "*"
            tokens.append(c)
        i += 1
    return tokens


def _chars_meet(x: Token, y: Token) -> bool:
    if x == "?" or y == "?":
        other = y if x == "?" else x
        return len(other) == 1 or _class_has_any(other)  # an empty class ([b-a]) meets nothing
    if len(x) == 1 and len(y) == 1:
        return x == y
    if len(x) == 1:
        return _class_has(y, x)
    if len(y) == 1:
        return _class_has(x, y)
    return any(_class_has(x, chr(c)) and _class_has(y, chr(c)) for c in range(32, 0x250))


@lru_cache(maxsize=4096)
def _class_has_any(cls: str) -> bool:
    return any(_class_has(cls, chr(c)) for c in range(32, 0x250))


@lru_cache(maxsize=4096)
def _class_has(cls: str, char: str) -> bool:
    """Whether the bracket class `cls` (such as `[a-z]` or `[!0-9]`) contains `char`."""
    body = cls[1:-1]
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    found = False
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            found = found or body[i] <= char <= body[i + 2]
            i += 3
        else:
            found = found or body[i] == char
            i += 1
    return found != negate
