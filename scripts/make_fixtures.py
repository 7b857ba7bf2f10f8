"""Regenerates every committed test fixture (run by `make fixtures` and `make anchors-fixtures`).

The seed and catalogue fixtures need only torch. The parity fixtures (anchors.py) also need torchvision, kornia
and MONAI, which scripts/setup-anchors.sh installs: `make anchors-fixtures` puts them on the path.
"""
import importlib.util
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))

import catalogue  # noqa: E402
import seed  # noqa: E402

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    seed.main(out)
    catalogue.main(out)
    if all(importlib.util.find_spec(m) for m in ("torchvision", "kornia", "monai")):
        import anchors  # noqa: E402
        import edges  # noqa: E402

        anchors.main(out)
        edges.main(out)
    else:
        print("skipped anchors.safetensors and edges.safetensors: torchvision, kornia or monai missing (run `make anchors-fixtures`)")
