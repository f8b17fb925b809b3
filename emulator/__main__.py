"""``python -m emulator [--host H] [--port N]``: run the emulator alone."""

from __future__ import annotations

import argparse

from emulator.config import EmulatorConfig
from emulator.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="athenahealth emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    args = parser.parse_args(argv)
    serve_forever(args.host, args.port, EmulatorConfig())


if __name__ == "__main__":
    main()
