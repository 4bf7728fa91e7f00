"""The ``vecdb`` command: ``vecdb serve`` (gRPC + REST) and ``vecdb demo``.

>>> main(["--help"])          # doctest: +SKIP
usage: vecdb {serve,demo} ...
"""

from __future__ import annotations

import sys

USAGE = """usage: vecdb <command> [options]

commands:
  serve    serve a database over gRPC and REST (vecdb serve --help)
  demo     load a sample dataset and run example queries (vecdb demo --help)
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    cmd, rest = args[0], args[1:]
    if cmd == "serve":
        try:
            from vecdb_server.main import main as serve
        except ImportError as e:  # the server extra is not installed
            print(f"vecdb serve needs the server extra: pip install 'vecdb[server]' ({e})")
            return 2
        return int(serve(rest) or 0)
    if cmd == "demo":
        from vecdb.demo import main as demo

        return int(demo(rest) or 0)
    print(f"vecdb: unknown command {cmd!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
