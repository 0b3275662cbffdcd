"""Map-reduce over a file: word frequencies, each worker reading only its own byte range.

    python examples/patterns/map_reduce.py [FILE]

Without a FILE, it counts a generated 8 MB file, removed when done.
"""

import collections
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from makespan import map_reduce


def count_words(lines: Iterator[str]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        counts.update(line.split())
    return counts


def merge(parts: list[collections.Counter[str]]) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for part in parts:
        total.update(part)
    return total


def write_sample(path: Path) -> Path:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and",
             "keeps", "running"]
    with path.open("w") as f:
        for i in range(200_000):
            f.write(" ".join(words[(i + k) % len(words)] for k in range(8)) + "\n")
    return path


def most_common(path: Path) -> None:
    print(map_reduce(count_words, merge, path).most_common(5))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        most_common(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as scratch:
            most_common(write_sample(Path(scratch) / "words.txt"))
