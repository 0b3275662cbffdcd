"""Independent tasks: the same function over many items, in parallel chunks.

    python examples/patterns/independent.py
"""

import hashlib

from makespan import parallel_map


def checksum(n: int) -> str:
    data = str(n).encode()
    for _ in range(200):
        data = hashlib.sha256(data).digest()
    return data.hex()[:8]


if __name__ == "__main__":
    digests = parallel_map(checksum, range(20_000))  # chunk="auto": sized from a timed sample
    print(len(digests), "checksums; first:", digests[0])
