"""Build time only: export resemblyzer's pretrained speaker encoder (3-layer LSTM, 256-d, 17 MB in its
wheel) to ONNX, so a serving pod embeds reference clips with onnxruntime and never imports torch.

    python -m function.engines.matching.export [--out PATH]       (make install runs it)

The graph takes a batch of power-mel partials (B, 160, 40) and returns L2-normalised embeddings
(B, 256): the network of ``resemblyzer.VoiceEncoder.forward``; the mel front end and the averaging over
partials are numpy (``frontend``, ``encoder``). Beside the model a JSON sidecar records what it was made
from (resemblyzer and torch versions, sha256 of the weights) and the largest difference from the torch
original on random partials; the export fails if that exceeds 1e-4.

The only module of the matching package that imports torch and resemblyzer (lazily, inside functions);
serving code never imports it (``encoder`` only reads the files it writes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from function.engines.matching.encoder import DEFAULT_MODEL_PATH, sidecar_path
from function.engines.matching.frontend import N_MELS, PARTIAL_FRAMES

PARITY_TOLERANCE = 1e-4
OPSET = 17


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_original() -> Any:
    """resemblyzer's VoiceEncoder on the CPU with its bundled weights (prints nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webrtcvad's pkg_resources deprecation, torch.load notes
        from resemblyzer import VoiceEncoder

        return VoiceEncoder("cpu", verbose=False).eval()


def export(out: Path = DEFAULT_MODEL_PATH) -> dict[str, Any]:
    """Write ``out`` (ONNX) and its sidecar; return the sidecar. Idempotent: same weights, same graph."""
    import torch
    from torch import nn

    started = time.perf_counter()
    original = load_original()

    class Network(nn.Module):
        """forward() of VoiceEncoder, with the norm written as the ONNX exporter likes it."""

        def __init__(self, source: Any) -> None:
            super().__init__()
            self.lstm, self.linear = source.lstm, source.linear

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.sqrt(torch.sum(raw * raw, dim=1, keepdim=True))

    network = Network(original).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".onnx.part")
    example = torch.rand(2, PARTIAL_FRAMES, N_MELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (example,), str(tmp), input_names=["mels"], output_names=["embeddings"],
                          dynamic_axes={"mels": {0: "partials"}, "embeddings": {0: "partials"}},
                          opset_version=OPSET, dynamo=False)
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch in (1, 3, 8):
        # Power mels span orders of magnitude; exponentials of normals cover that range.
        mels = np.exp(rng.normal(-4.0, 2.0, size=(batch, PARTIAL_FRAMES, N_MELS))).astype(np.float32)
        with torch.no_grad():
            want = original(torch.from_numpy(mels)).numpy()
        got = session.run(None, {"mels": mels})[0]
        worst = max(worst, float(np.abs(want - got).max()))
    if worst > PARITY_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"exported speaker encoder differs from resemblyzer's by {worst:.3g} (> {PARITY_TOLERANCE})")
    tmp.replace(out)
    import resemblyzer

    weights = Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"
    sidecar = {
        "model": "resemblyzer VoiceEncoder (GE2E, 3x256 LSTM, 256-d embeddings)",
        "resemblyzer_version": _version("resemblyzer"),
        "torch_version": torch.__version__,
        "weights_sha256": _sha256(weights),
        "onnx_sha256": _sha256(out),
        "opset": OPSET,
        "parity_max_abs_diff": worst,
        "export_seconds": round(time.perf_counter() - started, 2),
    }
    sidecar_path(out).write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="ONNX file to write")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing when the file and its sidecar exist and match the installed weights")
    args = parser.parse_args(argv)
    if args.if_missing and args.out.is_file() and sidecar_path(args.out).is_file():
        try:
            import resemblyzer

            recorded = json.loads(sidecar_path(args.out).read_text())
            weights = Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"
            if recorded.get("weights_sha256") == _sha256(weights) and recorded.get("onnx_sha256") == _sha256(args.out):
                print(f"{args.out}: up to date")
                return 0
        except Exception:  # noqa: BLE001 - anything odd: export again
            pass
    sidecar = export(args.out)
    print(f"{args.out}: exported in {sidecar['export_seconds']} s, parity {sidecar['parity_max_abs_diff']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
