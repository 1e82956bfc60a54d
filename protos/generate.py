"""Regenerates the Python stubs from the .proto files: `python -m rnnvoice.protos.generate`."""

import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
# The stubs import each other by this prefix, which is where the package installs.
IMPORT_PREFIX = "rnnvoice/protos"


def generate(out_root: Path = PROTO_ROOT) -> list[Path]:
    """Writes voice_pb2.py, voice_pb2.pyi and voice_pb2_grpc.py beside each .proto under out_root."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{IMPORT_PREFIX}={PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *(f"{IMPORT_PREFIX}/{p.relative_to(PROTO_ROOT)}" for p in protos),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(args)}")
        generated = Path(tmp) / IMPORT_PREFIX
        for path in sorted(generated.rglob("*_pb2*.py*")):
            target = out_root / path.relative_to(generated)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT):
        print(path)
