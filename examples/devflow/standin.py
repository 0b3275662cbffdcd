"""Stand-in for a real development tool, so the example workflow runs anywhere in seconds.

    python3 standin.py cpu SECONDS [OUTPUT ...]   burn one core for SECONDS (a compiler, a test run)
    python3 standin.py io SECONDS [OUTPUT ...]    wait for SECONDS (a download, an upload)

Each OUTPUT file is written at the end, as the real tool would write its artifact.
"""

import hashlib
import sys
import time
from pathlib import Path


def main() -> None:
    kind, seconds, *outputs = sys.argv[1:]
    deadline = time.perf_counter() + float(seconds)
    if kind == "cpu":
        digest = b""
        while time.perf_counter() < deadline:
            for _ in range(1000):
                digest = hashlib.sha256(digest).digest()
    else:
        time.sleep(float(seconds))
    for output in outputs:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{kind} {seconds}\n")


if __name__ == "__main__":
    main()
