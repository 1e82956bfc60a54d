"""The one-time import of the speech embedding from the TFLite files of a pinned wheel (`rnnvoice import-embedding`).

Offline only (needs the `embedding-import` extra): the server loads the torch file it writes. The source is
`pyopen-wakeword==1.1.0` (Apache-2.0), whose two files are checked by SHA-256 before anything is read. Its
embedding network becomes `SpeechEmbedding`'s state dict; its mel network holds no weights, only constants
(window, filter bank, floor), which are checked against `EmbeddingMelConfig` and torchaudio's, not copied.
"""

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tflite
import torch

from rnnvoice.models.audio.embedding_mel import EmbeddingMelConfig, mel_constants
from rnnvoice.models.nets.speech_embedding import ACTIVATION_FLOOR, LEAKY_SLOPE, SpeechEmbedding

__all__ = ["MEL_FILE", "NETWORK_FILE", "SOURCE", "ConversionError", "convert", "read_ops"]

MEL_FILE = "melspectrogram.tflite"
NETWORK_FILE = "embedding_model.tflite"
# Where the two files come from, and what they must be.
SOURCE = {
    "package": "pyopen-wakeword",
    "version": "1.1.0",
    "folder": "pyopen_wakeword/models",
    "license": "Apache-2.0",
    "model": "Google speech embedding (Lin, Kilgour, Roblek, Sharifi, ICASSP 2020), TF Hub google/speech_embedding",
    "sha256": {
        MEL_FILE: "96fa0adccb6e8cf95cb14465409a1a2898ee4a96a85bb9ed3c7eb0e68bf163e8",
        NETWORK_FILE: "c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8",
    },
}
# How far the reference's window and filter bank may be from ours (float32 rounding of the same formulas).
CONSTANT_TOLERANCE = 1e-6

_NUMPY_TYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.INT32: np.int32}
_OPTIONS = {"CONV_2D": tflite.Conv2DOptions, "MAX_POOL_2D": tflite.Pool2DOptions, "LEAKY_RELU": tflite.LeakyReluOptions}


class ConversionError(ValueError):
    """A file that is not the pinned one, or holds other than what our modules compute."""


@dataclass
class Op:
    """One operator of a TFLite graph: its name, each input's constant value (None: computed), its options."""

    name: str
    inputs: list[np.ndarray | None]
    options: object | None


def read_ops(path: Path) -> list[Op]:
    """The operators of a one-graph TFLite file, in execution order."""
    model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)

    def constant(index: int) -> np.ndarray | None:
        tensor = graph.Tensors(index)
        data = model.Buffers(tensor.Buffer())
        if data.DataLength() == 0:
            return None
        shape = tuple(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        return np.frombuffer(data.DataAsNumpy().tobytes(), _NUMPY_TYPES[tensor.Type()]).reshape(shape)

    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = tflite.opcode2name(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
        options = None
        if name in _OPTIONS:
            table = op.BuiltinOptions()
            options = _OPTIONS[name]()
            options.Init(table.Bytes, table.Pos)
        ops.append(Op(name, [constant(op.Inputs(j)) for j in range(op.InputsLength())], options))
    return ops


def checked(folder: Path, name: str) -> Path:
    """The file `name` in `folder`, if its SHA-256 is the pinned one."""
    path = Path(folder) / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SOURCE["sha256"][name]:
        raise ConversionError(f"{path}: SHA-256 {digest}, expected {SOURCE['sha256'][name]} ({_source()})")
    return path


def network_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The embedding network's convolutions as `SpeechEmbedding`'s state dict, after checking that the graph's
    activations and poolings are the module's."""
    ops = read_ops(path)
    convs = [op for op in ops if op.name == "CONV_2D"]
    slopes = {np.float32(op.options.Alpha()) for op in ops if op.name == "LEAKY_RELU"}
    floors = {np.float32(op.inputs[1]) for op in ops if op.name == "MAXIMUM"}
    pools = [(op.options.FilterHeight(), op.options.FilterWidth()) for op in ops if op.name == "MAX_POOL_2D"]
    strides = [(op.options.StrideH(), op.options.StrideW()) for op in ops if op.name == "MAX_POOL_2D"]
    module = SpeechEmbedding()
    found = {"leaky slope": slopes, "activation floor": floors, "poolings": pools, "pool strides": strides}
    expected = {
        "leaky slope": {np.float32(LEAKY_SLOPE)},  # as the file holds them
        "activation floor": {np.float32(ACTIVATION_FLOOR)},
        "poolings": list(module.pools.values()),
        "pool strides": list(module.pools.values()),
    }
    for what in found:
        if found[what] != expected[what]:
            raise ConversionError(f"{path}: {what} {found[what]}, SpeechEmbedding has {expected[what]}")
    if len(convs) != len(module.convs):
        raise ConversionError(f"{path}: {len(convs)} convolutions, SpeechEmbedding has {len(module.convs)}")
    state = {}
    for i, op in enumerate(convs):
        if (op.options.StrideH(), op.options.StrideW()) != (1, 1):
            raise ConversionError(f"{path}: convolution {i} is strided")
        # TFLite's kernels are (out, height, width, in), torch's (out, in, height, width); height is time.
        state[f"convs.{i}.weight"] = torch.from_numpy(op.inputs[1].transpose(0, 3, 1, 2).copy())
        state[f"convs.{i}.bias"] = torch.from_numpy(op.inputs[2].copy())
    module.load_state_dict(state)  # raises on any shape that differs
    return state


def mel_differences(path: Path, config: EmbeddingMelConfig) -> dict[str, float]:
    """How far the mel graph's constants are from the config's and torchaudio's: the largest absolute difference
    of the window, the two DFT kernels and the filter bank (ConversionError past CONSTANT_TOLERANCE, or if a scalar
    constant differs)."""
    ops = read_ops(path)
    convs = [op for op in ops if op.name == "CONV_2D"]
    bank = next(op.inputs[1] for op in ops if op.name == "BATCH_MATMUL")
    floor = next(float(op.inputs[1]) for op in ops if op.name == "MAXIMUM" and op.inputs[1] is not None)
    hops = {op.options.StrideW() for op in convs}
    if hops != {config.hop_length} or floor != np.float32(config.power_floor):
        raise ConversionError(f"{path}: hop {hops}, floor {floor}; EmbeddingMelConfig has {config}")
    window, ours = mel_constants(config)
    window = (window / config.sample_scale).double().numpy()
    kernels = [op.inputs[1][:, 0, :, 0].astype(np.float64) for op in convs]  # (bins, n_fft) each
    phase = 2 * np.pi * np.outer(np.arange(config.n_fft // 2 + 1), np.arange(config.n_fft)) / config.n_fft
    real = max(kernels, key=lambda k: abs(k[0]).sum())  # the cosine kernel's first row is the window itself
    imaginary = next(k for k in kernels if k is not real)
    differences = {
        "window": float(abs(real[0] - window).max()),
        "cosine kernel": float(abs(real - window * np.cos(phase)).max()),
        "sine kernel": float(abs(imaginary + window * np.sin(phase)).max()),  # the imaginary part: minus the sine
        "filter bank": float(abs(bank - ours.numpy()).max()),
    }
    if max(differences.values()) > CONSTANT_TOLERANCE:
        raise ConversionError(f"{path}: constants differ from EmbeddingMelConfig's: {differences}")
    return differences


def convert(folder: Path) -> dict:
    """The torch file's contents from the wheel's model folder: the embedding's state dict, and as metadata the
    mel constants it reads, the source (package, version, files' SHA-256, licence) and the checks' results."""
    config = EmbeddingMelConfig()
    differences = mel_differences(checked(folder, MEL_FILE), config)
    state = network_state_dict(checked(folder, NETWORK_FILE))
    metadata = {
        "mel": asdict(config),
        "source": SOURCE | {"files": [MEL_FILE, NETWORK_FILE]},
        "mel_constants_max_abs_difference": differences,
    }
    return {"state_dict": state, "metadata": metadata}


def _source() -> str:
    return f"{SOURCE['package']}=={SOURCE['version']}, {SOURCE['folder']}"
