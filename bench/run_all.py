"""Run every tinycv benchmark and keep the figures as JSON.

    python bench/run_all.py                       # CPU, tables on the terminal
    python bench/run_all.py --json bench.json     # also write the figures
    python bench/run_all.py --device cuda --sizes 256,1024,4096

The same as ``tinycv bench all``; see bench/README.md for what is timed.
"""

from __future__ import annotations

import argparse
import sys

from tinycv.bench import main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="?", default="all", choices=["matmul", "conv2d", "pool", "all"]
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",") if size],
        help="n for matmul, batch size for conv2d and pool, e.g. 128,512,1024",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", dest="json_path", help="write the figures here")
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(main(args.what, args.sizes, args.device, args.json_path, args.rounds))
