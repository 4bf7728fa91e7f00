"""Regenerate the committed protobuf/gRPC modules in ``vecdb/rpc/v1`` from ``proto/``.

Run ``python -m vecdb_server.protogen`` (``make proto``). ``-I proto`` makes the generated
imports absolute (``from vecdb.rpc.v1 import vecdb_pb2``), so they work without edits.

>>> import pathlib, tempfile
>>> out = generate(pathlib.Path(tempfile.mkdtemp()))   # doctest: +SKIP
>>> sorted(p.name for p in out)                          # doctest: +SKIP
['vecdb_pb2.py', 'vecdb_pb2_grpc.py']
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_FILES = ["vecdb/rpc/v1/vecdb.proto"]
PACKAGE_DIR = pathlib.PurePosixPath("vecdb/rpc/v1")
TARGET = ROOT / PACKAGE_DIR


def generate(out_root: pathlib.Path, proto_root: pathlib.Path = PROTO_ROOT) -> list[pathlib.Path]:
    """Run protoc into ``out_root`` and return the generated files (under vecdb/rpc/v1)."""
    import grpc_tools
    from grpc_tools import protoc

    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(proto_root / f) for f in PROTO_FILES],
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}")
    return sorted((out_root / PACKAGE_DIR).glob("*_pb2*.py*"))


def main(argv: list[str] | None = None) -> int:
    """Regenerate into ``vecdb/rpc/v1`` (or ``--out DIR``)."""
    parser = argparse.ArgumentParser(prog="python -m vecdb_server.protogen")
    parser.add_argument("--out", type=pathlib.Path, default=TARGET, help="target package dir")
    ns = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(pathlib.Path(tmp))
        ns.out.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, ns.out / f.name)
            print(f"wrote {ns.out / f.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
