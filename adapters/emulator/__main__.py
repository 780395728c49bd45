"""``python -m adapters.emulator [--host H] [--port P] [--config FILE]``: serve the emulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adapters.emulator.config import EmulatorConfig, EmulatorConfigError, load_emulator_config
from adapters.emulator.server import run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, load the config file if one is given, and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m adapters.emulator", description=__doc__)
    parser.add_argument("--host", help="address to listen on (default: the config's)")
    parser.add_argument("--port", type=int, help="port to listen on (default: the config's)")
    parser.add_argument("--config", "--faults", dest="config", help="YAML/JSON config file")
    args = parser.parse_args(argv)
    try:
        config = load_emulator_config(args.config) if args.config else EmulatorConfig()
    except EmulatorConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    run(args.host or config.host, args.port if args.port is not None else config.port, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
