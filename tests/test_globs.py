"""`globs.intersect` and `globs.overlaps`, checked against the real filesystem and a brute force.

Three kinds of test:

- soundness on disk: hypothesis creates a small tree of files and directories, draws two
  patterns (half of them derived from the paths it created, so they often match), and asks
  Python's `glob` (with `recursive=True`, so `**` spans segments) what each pattern matches.
  If a path matches both, `intersect` must say so; if a path lies at or under a match of each,
  `overlaps` must.
- exactness by brute force: for patterns over the letters `a` and `b`, a common path exists
  exactly when `intersect` says so. The brute force expands each `**` into runs of `*`
  segments and tries every segment over `a`, `b` and one other letter up to a length bound,
  with `fnmatch` deciding what a segment pattern matches (see `brute_intersect`).
- unit cases for classes, negated classes, `**` over zero segments and directory prefixes.
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import re
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from makespan.globs import intersect, literal_prefix, normalize, overlaps

# ---------------------------------------------------------------------------- on disk

SEGMENTS = ("a", "b", "ab", "ba", "x.txt", "a.txt")
PIECES = ("a", "b", "x", ".txt", "*", "?", "[ab]", "[!a]", "[a-b]", "[!x]")

paths = st.lists(
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join),
    min_size=1, max_size=8, unique=True,
)
segment_patterns = st.one_of(
    st.sampled_from(SEGMENTS),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join),
)
free_patterns = st.lists(st.one_of(segment_patterns, st.just("**")), min_size=1,
                         max_size=3).map("/".join)


@st.composite
def derived_pattern(draw: st.DrawFn, path: str) -> str:
    """A pattern that `path` (usually) matches: some segments kept, others generalised."""
    out: list[str] = []
    for segment in path.split("/"):
        how = draw(st.sampled_from(("keep", "keep", "star", "globstar", "chars", "drop")))
        if how == "star":
            out.append("*")
        elif how == "globstar":
            out.append("**")
        elif how == "chars":
            out.append("".join(
                draw(st.sampled_from((c, "?", f"[{c}b]", "[!z]", "*"))) for c in segment))
        elif how == "keep":
            out.append(segment)
    return "/".join(out) or "**"


def create(root: Path, created: list[str]) -> set[str]:
    """Every path in `created` under `root` (directories where another path needs one)."""
    everything = {"/".join(p.split("/")[:k]) for p in created
                  for k in range(1, p.count("/") + 2)}
    directories = {p.rsplit("/", 1)[0] for p in everything if "/" in p}
    for path in sorted(everything):
        if path in directories:
            (root / path).mkdir(exist_ok=True)
        else:
            (root / path).touch()
    return everything


def glob_matches(root: Path, pattern: str) -> set[str]:
    """What `glob` matches under `root`, as paths without a trailing slash.

    `glob` yields `dir/` for `dir/**` without checking that `dir` exists when `dir` has no
    wildcard (CPython 3.11 `_glob2`), so matches are kept only if they exist.
    """
    found = {m.rstrip("/") for m in glob.glob(pattern, root_dir=root, recursive=True)}
    return {m for m in found if m and (root / m).exists()}


def at_or_under(matches: set[str], everything: set[str]) -> set[str]:
    return {p for p in everything if any(p == m or p.startswith(m + "/") for m in matches)}


@st.composite
def disk_case(draw: st.DrawFn) -> tuple[list[str], str, str]:
    created = draw(paths)
    patterns = [
        draw(st.one_of(free_patterns, derived_pattern(draw(st.sampled_from(created)))))
        for _ in range(2)
    ]
    return created, patterns[0], patterns[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disk_case())
@example((["a/b/x.txt"], "a/**/x.txt", "a/b/*"))
@example((["a/b"], "a/**", "a/b/**"))
@example((["ab/x.txt"], "[a-b][!a]/*.txt", "ab"))
def test_a_path_matching_both_patterns_on_disk_means_they_intersect(case):
    created, a, b = case
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        everything = create(root, created)
        matches_a, matches_b = glob_matches(root, a), glob_matches(root, b)
    if matches_a & matches_b:
        event("a path matches both")
        assert intersect(a, b), (a, b, matches_a & matches_b)
        assert intersect(b, a)
    if at_or_under(matches_a, everything) & at_or_under(matches_b, everything):
        assert overlaps(a, b), (a, b)
        assert overlaps(b, a)


# ---------------------------------------------------------------------------- brute force

LETTERS = "abc"  # patterns use only a and b; c stands for every other character
BRUTE_PIECES = ("a", "b", "*", "?", "[ab]", "[!a]", "[a-b]", "[!b]", "[b-a]")

brute_segments = st.lists(st.sampled_from(BRUTE_PIECES), min_size=1, max_size=3).map("".join)
brute_patterns = st.lists(st.one_of(brute_segments, st.just("**")), min_size=1,
                          max_size=3).map("/".join)


def fixed_width(pattern: str) -> int:
    """How many characters a segment pattern's non-star tokens consume."""
    return len(re.sub(r"\[[^]]*\]", "?", pattern).replace("*", ""))


@cache
def words(length: int) -> tuple[str, ...]:
    return tuple("".join(w) for w in itertools.product(LETTERS, repeat=length))


@cache
def brute_segments_meet(x: str, y: str) -> bool:
    """Whether a non-empty segment matches both segment patterns.

    Each character of a shortest common word advances at least one of the patterns past a
    non-star token, so trying every word up to the sum of their fixed widths is enough; any
    character other than a and b behaves like c in these patterns.
    """
    rx, ry = re.compile(fnmatch.translate(x)), re.compile(fnmatch.translate(y))
    bound = max(1, fixed_width(x) + fixed_width(y))
    return any(rx.match(w) and ry.match(w)
               for n in range(1, bound + 1) for w in words(n))


def expansions(segments: list[str], length: int) -> list[list[str]]:
    """Every way to replace each `**` by `*` segments so the pattern has `length` segments."""
    fixed = [s for s in segments if s != "**"]
    stars = len(segments) - len(fixed)
    extra = length - len(fixed)
    if extra < 0 or (extra > 0 and stars == 0):
        return []
    out = []
    for split in itertools.product(range(extra + 1), repeat=stars):
        if sum(split) != extra:
            continue
        counts = iter(split)
        expanded: list[str] = []
        for s in segments:
            expanded.extend(["*"] * next(counts) if s == "**" else [s])
        out.append(expanded)
    return out


def brute_intersect(a: str, b: str) -> bool:
    """Whether some path (as segments, the empty path included) matches both patterns."""
    sa, sb = a.split("/"), b.split("/")
    longest = max(1, sum(s != "**" for s in sa) + sum(s != "**" for s in sb))
    for length in range(longest + 1):
        for xa in expansions(sa, length):
            for xb in expansions(sb, length):
                if all(brute_segments_meet(x, y) for x, y in zip(xa, xb, strict=True)):
                    return True
    return False


@settings(max_examples=500, deadline=None)
@given(brute_patterns, brute_patterns)
@example("a*b/**", "**/*ba")
@example("[!a][!b]", "[ab][ab]")
@example("**", "[b-a]")
@example("a/**/b", "a/b")
def test_intersect_is_exact_on_small_patterns(a, b):
    expected = brute_intersect(a, b)
    event(f"intersect: {expected}")
    assert intersect(a, b) == expected, (a, b)


def test_the_brute_force_agrees_with_the_filesystem():
    """A check of the oracle itself: its witnesses, created on disk, match both patterns."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        create(root, ["ab/c", "c/c/ba", "b"])
        for a, b, expected in [("[a-b]?/*", "*[!a]/c", True), ("**/ba", "c/*/[!a]*", True),
                               ("b/**", "?", True), ("[!a]", "a*", False)]:
            on_disk = bool(glob_matches(root, a) & glob_matches(root, b))
            assert brute_intersect(a, b) == on_disk == expected, (a, b)


# ---------------------------------------------------------------------------- unit cases


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("build/x.o", "build/x.o", True),
    ("build/x.o", "build/y.o", False),
    ("build/*.o", "build/main.o", True),
    ("build/*.o", "build/main.c", False),
    ("build/*.o", "build/sub/main.o", False),  # * stays inside one segment
    ("build/**/*.o", "build/main.o", True),  # ** over zero segments
    ("build/**/*.o", "build/a/b/c.o", True),
    ("**", "anything/at/all", True),
    ("a/**/b/**/c", "a/b/c", True),
    ("a/**/b", "a/c", False),
    ("[abc].txt", "b.txt", True),
    ("[abc].txt", "d.txt", False),
    ("[a-c].txt", "[c-e].txt", True),
    ("[a-c].txt", "[d-f].txt", False),
    ("[!a].txt", "a.txt", False),
    ("[!a].txt", "b.txt", True),
    ("[!a-y].txt", "[a-y].txt", False),
    ("[!ab]", "[!bc]", True),
    ("[]]", "]", True),
    ("[!]]", "]", False),
    ("[!]]", "x", True),
    ("[!]", "[!]", True),  # no closing bracket after "[!]": a literal, as in fnmatch
    ("[!]", "x", False),
    ("?", "[b-a]", False),  # an empty class matches nothing
    ("*", "[b-a]", False),
    ("a*", "*b", True),
    ("a*", "b*", False),
    ("*x*y*", "*y*x*", True),
    ("a**b", "axyb", True),  # ** inside a segment is *
    ("a**b", "a/b", False),
])
def test_intersect_cases(a, b, expected):
    assert intersect(a, b) is expected
    assert intersect(b, a) is expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("data", "data/raw.csv", True),  # a directory and a file inside it
    ("data/raw.csv", "data", True),
    ("data", "data2", False),
    ("data/*", "data/x/y.csv", True),
    ("data/*.csv", "data/x.csv/y", True),  # data/x.csv may be a directory holding y
    ("data/*.csv", "data/x/y.csv", False),
    ("build/a/**", "build/b/**", False),
    ("build/a", "build/*/x.o", True),
    ("./build//x/", "build/x", True),
    ("", "anything", True),  # the current directory holds everything
    ("logs/*.log", "data", False),
])
def test_overlaps_cases(a, b, expected):
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_literal_prefix_and_normalize():
    assert literal_prefix("build/m1/*.o") == "build/m1/"
    assert literal_prefix("reports/[ab].xml") == "reports/"
    assert literal_prefix("plain/path") == "plain/path"
    assert normalize("./a//b/./c/") == "a/b/c"
