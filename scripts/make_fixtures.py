"""Regenerates every committed test fixture (run by `make fixtures`)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))

import seed  # noqa: E402

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    seed.main(out)
