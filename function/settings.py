"""Every setting the function reads, from environment variables, in one place.

Nothing else in the package reads ``os.environ``: the CLI and the app factory build one ``Settings`` and
pass it down, so tests can construct their own without touching the process environment.

A leaf: imports nothing of ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOTIVOICE_", extra="ignore", populate_by_name=True)

    # --- serving ---------------------------------------------------------------------------------
    host: str = Field("0.0.0.0", description="Address the HTTP server binds to.")
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PORT", "EMOTIVOICE_PORT"),
        description="HTTP port. Knative injects PORT; EMOTIVOICE_PORT is accepted too.",
    )
    ui: bool = Field(
        True,
        description="Serve the web playground at /ui (a page to listen to voices and emotions, run batches). "
        "On for development; the production overlays turn it off. It calls the same /v1 API, so with "
        "EMOTIVOICE_AUTH=jwt it can do nothing without a token.",
    )
    # --- engine ----------------------------------------------------------------------------------
    engine: Literal["auto", "espeak", "emotivoice"] = Field(
        "auto",
        description="Which synthesiser runs. auto: EmotiVoice when EMOTIVOICE_SNAPSHOT or EMOTIVOICE_HOME "
        "is set, else the embedded espeak-ng engine.",
    )
    home: Path | None = Field(None, description="EmotiVoice home directory (upstream's layout, see SPEC).")
    snapshot: Path | None = Field(None, description="Snapshot directory built by `emotivoice-fn snapshot`.")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads per process; 0 = torch's default.")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="EmotiVoice vocoder arithmetic: fp32 reproduces upstream; bf16 is ~1.4x faster on CPUs with "
        "AVX512-BF16/AMX at a small parity cost.",
    )
    # --- concurrency -----------------------------------------------------------------------------
    workers: int = Field(
        2, ge=1, le=64, description="Synthesis worker threads: requests synthesised at the same time."
    )
    queue_size: int = Field(
        6,
        ge=0,
        le=10_000,
        description="Requests that may wait for a worker. workers + queue_size is the most a pod accepts "
        "at once (match Knative containerConcurrency to it); beyond it requests get 503 + Retry-After.",
    )
    queue_timeout_seconds: float = Field(
        30.0, gt=0, description="A request still waiting for a worker after this long gets 503."
    )
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After value sent with 503 overload replies.")
    # --- limits ----------------------------------------------------------------------------------
    max_input_chars: int = Field(4096, ge=1, description="Longest accepted input text, in characters.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest accepted request body; larger bodies get 413."
    )
    # --- storage ---------------------------------------------------------------------------------
    storage: Literal["local", "s3"] = Field(
        "local", description="Where results and batch manifests go: a local directory or S3-compatible storage."
    )
    storage_dir: Path = Field(Path("./data"), description="Root directory of the local storage backend.")
    s3_endpoint: str | None = Field(
        None, description="S3 endpoint URL (SeaweedFS, MinIO, ...); unset = AWS. Credentials come from the "
        "standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables."
    )
    s3_region: str = Field("us-east-1", description="S3 region (also used for SigV4 signing).")
    s3_bucket: str | None = Field(None, description="S3 bucket; required with EMOTIVOICE_STORAGE=s3.")
    s3_prefix: str = Field("emotivoice/", description="Key prefix for every object this service writes.")
    s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path", description="path suits self-hosted S3 servers; virtual suits AWS."
    )
    presign_expiry_seconds: int = Field(
        3600, ge=1, le=7 * 24 * 3600, description="Lifetime of presigned download URLs in replies."
    )
    multipart_threshold_bytes: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Outputs at least this large upload in multipart."
    )
    # --- events and batches ------------------------------------------------------------------------
    event_source: str = Field(
        "/emotivoice/function", description="CloudEvents `source` of the events this function emits."
    )
    sink: str | None = Field(
        None,
        validation_alias=AliasChoices("K_SINK", "EMOTIVOICE_SINK"),
        description="Broker URL for events the function publishes itself (batch chunks, progress, "
        "completion). Knative's SinkBinding injects K_SINK. Unset: batches run in-process.",
    )
    batch_max_recipients: int = Field(10_000, ge=1, description="Most recipients one batch may carry.")
    batch_chunk_size: int = Field(
        50, ge=1, description="Recipients per chunk event when a batch fans out through the broker."
    )
    # --- auth ------------------------------------------------------------------------------------
    auth: Literal["none", "jwt"] = Field(
        "none", description="jwt: /v1/* requires `Authorization: Bearer <JWT>` (the OpenAI SDK's api_key)."
    )
    jwt_secret: str | None = Field(None, description="HS256 shared secret (with EMOTIVOICE_AUTH=jwt).")
    jwt_public_key: str | None = Field(
        None, description="PEM public key for RS256/ES256 tokens (with EMOTIVOICE_AUTH=jwt); instead of a secret."
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim, when set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, when set.")
    # --- logging ---------------------------------------------------------------------------------
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["json", "text"] = Field("json", description="json: one JSON object per line.")

    @model_validator(mode="after")
    def _auth_has_a_key(self) -> Settings:
        if self.auth == "jwt" and not (self.jwt_secret or self.jwt_public_key):
            raise ValueError("EMOTIVOICE_AUTH=jwt needs EMOTIVOICE_JWT_SECRET or EMOTIVOICE_JWT_PUBLIC_KEY")
        return self

    def chosen_engine(self) -> Literal["espeak", "emotivoice"]:
        if self.engine != "auto":
            return self.engine
        return "emotivoice" if (self.snapshot or self.home) else "espeak"

    @property
    def capacity(self) -> int:
        """Requests one process holds at once (running + waiting)."""
        return self.workers + self.queue_size
