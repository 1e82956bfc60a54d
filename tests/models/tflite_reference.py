"""The reference runtime of the speech embedding: the pinned wheel's own TFLite library, through its own ctypes
bindings (pyopen_wakeword), on inputs of any shape; pinned in the dev extra."""

import ctypes
from pathlib import Path

import numpy as np
from pyopen_wakeword.openwakeword import _MODELS_DIR, OpenWakeWordFeatures, _find_tensorflowlite_c
from pyopen_wakeword.wakeword import TfLiteWakeWord

MODELS = Path(_MODELS_DIR)
CHUNK = 1280  # samples the reference's streaming features take at a time (80 ms)


class TfliteModel:
    """One TFLite model, its input resized to `shape`: float32 array in, float32 array out."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.lib = TfLiteWakeWord(_find_tensorflowlite_c()).lib
        self.model = self.lib.TfLiteModelCreateFromFile(str(path).encode())
        self.interpreter = self.lib.TfLiteInterpreterCreate(self.model, None)
        dims = (ctypes.c_int32 * len(shape))(*shape)
        self.lib.TfLiteInterpreterResizeInputTensor(self.interpreter, 0, dims, len(shape))
        self.lib.TfLiteInterpreterAllocateTensors(self.interpreter)
        self.input = self.lib.TfLiteInterpreterGetInputTensor(self.interpreter, 0)
        self.output = self.lib.TfLiteInterpreterGetOutputTensor(self.interpreter, 0)
        self.shape = shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32).reshape(self.shape)
        self.lib.TfLiteTensorCopyFromBuffer(self.input, x.ctypes.data_as(ctypes.c_void_p), x.nbytes)
        self.lib.TfLiteInterpreterInvoke(self.interpreter)
        out = np.empty(self.lib.TfLiteTensorByteSize(self.output) // 4, np.float32)
        self.lib.TfLiteTensorCopyToBuffer(self.output, out.ctypes.data_as(ctypes.c_void_p), out.nbytes)
        return out

    def close(self) -> None:
        self.lib.TfLiteInterpreterDelete(self.interpreter)
        self.lib.TfLiteModelDelete(self.model)


def reference_mels(samples: np.ndarray) -> np.ndarray:
    """(T,) samples in 16-bit range -> (N, 32) in the embedding's scale (dB / 10 + 2, as the wheel's features
    class takes them), the mel model run on the whole input at once: its top-dB clamp against the whole input's
    loudest band."""
    model = TfliteModel(MODELS / "melspectrogram.tflite", (1, len(samples)))
    try:
        return model(samples).reshape(-1, 32) / 10 + 2
    finally:
        model.close()


class ReferenceEmbedding:
    """The embedding model on one (76, 32) window at a time, as the wheel's features class runs it."""

    def __init__(self):
        self.model = TfliteModel(MODELS / "embedding_model.tflite", (1, 76, 32, 1))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(B, 76, 32) -> (B, 96)."""
        return np.stack([self.model(w) for w in windows])


def streamed_embeddings(samples: np.ndarray) -> np.ndarray:
    """(T,) int16 samples through the wheel's own streaming features class, 1280 samples a call -> (E, 96): every
    embedding it yields, those of the 8 s of silence it starts from included."""
    features = OpenWakeWordFeatures.from_builtin()
    try:
        out = [
            e.reshape(96)
            for start in range(0, len(samples), CHUNK)
            for e in features.process_streaming(samples[start : start + CHUNK].astype(np.int16).tobytes())
        ]
    finally:
        features.close()
    return np.stack(out)
