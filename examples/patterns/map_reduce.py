"""Map-reduce over a file: word frequencies, each worker reading only its own byte range.

    python examples/patterns/map_reduce.py [FILE]
"""

import collections
import sys
import tempfile
from collections.abc import Iterator

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


def sample_file() -> str:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and",
             "keeps", "running"]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for i in range(200_000):
            f.write(" ".join(words[(i + k) % len(words)] for k in range(8)) + "\n")
    return f.name


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else sample_file()
    frequencies = map_reduce(count_words, merge, path)
    print(frequencies.most_common(5))
