# syntax=docker/dockerfile:1
# espeak-only image: the embedded default engine, no checkpoints, no torch. Small and instant to start.
# (The EmotiVoice snapshot image is built by the multi-stage targets added with the snapshot step.)
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
