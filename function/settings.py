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

# RFC 7518 3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_HS256_SECRET_BYTES = 32


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
    runtime: Literal["auto", "onnx", "openvino", "torchscript"] = Field(
        "auto",
        description="How a snapshot's networks run. auto: ONNX Runtime when the snapshot has ONNX graphs and "
        "onnxruntime imports (the process never imports torch), else TorchScript; auto never picks OpenVINO "
        "(measured on 2 cores: 17-24% faster per sentence in fp32, but ready ~1.2 s later and a slower first "
        "request, so a cold pod's first audio comes ~1.5 s later); onnx/openvino/torchscript: only that one "
        "(the engine fails to load, with a readiness message, when it cannot). openvino runs the same ONNX "
        "graphs without torch (the 'openvino' extra) and is the snapshot runtime for EMOTIVOICE_PRECISION=bf16.",
    )
    onnx_threads: int = Field(
        0, ge=0, description="Intra-op threads per graph of a snapshot's ONNX graphs (ONNX Runtime sessions, or "
        "OpenVINO compiled models); 0 = the pod's CPU limit (cgroup cpu.max, else the CPUs this process may run on).",
    )
    onnx_provider: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="ONNX Runtime execution provider for a snapshot's graphs. cpu: the CPU only; cuda: "
        "CUDAExecutionProvider first, operators it lacks on the CPU (needs onnxruntime-gpu and a visible NVIDIA GPU; "
        "the engine fails to load, with a readiness message, without them); auto: cuda when onnxruntime reports "
        "CUDAExecutionProvider available, else cpu.",
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="EmotiVoice vocoder arithmetic (BERT and the acoustic model stay fp32): fp32 reproduces "
        "upstream; bf16 is opt-in, at a parity cost (max |diff| ~0.06, SNR ~33 dB on random weights), and "
        "pays off only where bf16 is fast (AMX): on an AVX512-BF16 CPU without AMX it was slower than fp32. "
        "Served by the eager path and EMOTIVOICE_RUNTIME=openvino (refused on a CPU without bf16); the onnx "
        "and torchscript runtimes refuse it.",
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
    interactive_reserved_slots: int = Field(
        1, ge=0, description="Slots batch greetings never take, so interactive calls still get in while batches "
        "run (batch items use at most workers + queue_size - this)."
    )
    request_timeout_seconds: float = Field(
        300.0, gt=0, description="Deadline of one synthesis from admission to last audio; also how long a "
        "draining pod waits for admitted work. Keep it at or below the Knative revision's timeoutSeconds."
    )
    stall_timeout_seconds: float = Field(
        30.0, gt=0, description="A client that reads none of a streamed response for this long is cut off and "
        "its slot freed (emotivoice_stalled_streams_total)."
    )
    max_buffered_chunks: int = Field(
        4, ge=1, le=1024, description="Sentences of audio held for a slow reader before the engine waits for it."
    )
    # --- limits ----------------------------------------------------------------------------------
    max_input_chars: int = Field(4096, ge=1, description="Longest accepted input text, in characters.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest accepted request body; larger bodies get 413."
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest accepted request header block; larger ones get 431."
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="A request body not fully received this long after the headers gets 408."
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
    reference_prefix: str = Field(
        "", description="Inputs referenced by URI (text_uri, recipients_uri) must be keys in EMOTIVOICE_S3_BUCKET "
        "under this prefix (local storage: paths under EMOTIVOICE_STORAGE_DIR and this prefix); empty = "
        "anywhere in the bucket. Any other bucket, scheme or path is refused (403 reference_forbidden)."
    )
    max_reference_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="Largest referenced input read (checked before reading; 413)."
    )
    s3_connect_timeout_seconds: float = Field(2.0, gt=0, description="S3 connect timeout per attempt.")
    s3_read_timeout_seconds: float = Field(5.0, gt=0, description="S3 read timeout per attempt.")
    s3_max_attempts: int = Field(2, ge=1, le=10, description="S3 attempts per call (first try included).")
    storage_breaker_failures: int = Field(
        3, ge=1, description="Consecutive storage failures (down, timing out) that open the circuit breaker: "
        "storage calls then fail at once with 503 + Retry-After."
    )
    storage_breaker_seconds: float = Field(
        10.0, gt=0, description="How long an open breaker refuses storage calls before one probe call is let through."
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
    batch_max_total_chars: int = Field(
        1_000_000, ge=1, description="Most characters of greeting text (templates filled in) one batch may ask for."
    )
    batch_max_audio_seconds: float = Field(
        36_000.0, gt=0, description="Most seconds of audio one batch may produce; items past it fail with "
        "batch_audio_budget_exceeded."
    )
    batch_max_running: int = Field(
        2, ge=1, description="Batches one pod works through in the background at once; more wait their turn."
    )
    batch_max_per_subject: int = Field(
        2, ge=1, description="Batches one caller (JWT subject, or event source) may have running on a pod at once; "
        "more get 429 too_many_batches."
    )
    # --- auth (see the README's Security section) -------------------------------------------------
    auth: Literal["none", "jwt"] = Field(
        "none", description="jwt: /v1/* and /openapi.json require `Authorization: Bearer <JWT>` (the OpenAI "
        "SDK's api_key) carrying the route's scope; /docs and /redoc are not served."
    )
    jwt_secret: str | None = Field(
        None, description=f"HS256 shared secret, at least {MIN_HS256_SECRET_BYTES} bytes (with EMOTIVOICE_AUTH=jwt)."
    )
    jwt_public_key: str | None = Field(
        None, description="PEM public key (RSA >= 2048 bits, EC, Ed25519) instead of a secret; only its own "
        "algorithm family verifies."
    )
    jwt_jwks: str | None = Field(
        None, description="The issuer's JWK Set instead of a secret or key: an http(s) URL (cached, refetched "
        "on an unknown kid) or a file path (reloaded when it changes). Asymmetric keys only."
    )
    jwt_jwks_cache_seconds: int = Field(
        300, ge=1, le=86_400, description="How long a JWK Set fetched from a URL is used before it is refetched."
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim, when set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim, when set.")
    jwt_leeway_seconds: int = Field(
        5, ge=0, le=300, description="Clock skew tolerated on `exp`, `nbf` and `iat` (token and event sender)."
    )
    jwt_require_scopes: bool = Field(
        True, description="Check the token's `scope`/`scp` claim against each route's scope (synthesize, "
        "voices, batches, admin). false: any valid token may call every route."
    )
    event_auth: Literal["none", "oidc"] = Field(
        "none", description="oidc: `POST /` (CloudEvents) requires a Knative Eventing OIDC sender token "
        "for EMOTIVOICE_EVENT_AUDIENCE."
    )
    event_audience: str | None = Field(
        None, description="Required `aud` of event sender tokens (the Triggers' `subscriber.audience`)."
    )
    event_issuer: str | None = Field(
        None, description="Required `iss` of event sender tokens; without EMOTIVOICE_EVENT_JWKS their keys "
        "come from its OIDC discovery document."
    )
    event_jwks: str | None = Field(
        None, description="JWK Set of the event senders' issuer (URL or file path), instead of discovery."
    )
    event_allowed_subjects: str | None = Field(
        None, description="Comma-separated `sub` patterns (`*` wildcards) an event sender must match; unset: "
        "any subject with the right audience and issuer."
    )
    sink_token_file: Path | None = Field(
        None, description="File holding a bearer token sent with events published to K_SINK (a projected "
        "service-account token for the broker's OIDC audience); re-read on every publish."
    )
    # --- abuse limits ------------------------------------------------------------------------------
    rate_limit_per_second: float = Field(
        0, ge=0, description="Per-subject token bucket on /v1/*: requests per second refilled (JWT `sub`, or "
        "the client address when auth is off); 0 = no rate limit. Per pod."
    )
    rate_limit_burst: int = Field(
        20, ge=1, le=100_000, description="Size of each subject's bucket: requests it may send at once."
    )
    # --- custom voices (voice matching, see the README's "Custom voices") ---------------------------
    voice_encoder: Path | None = Field(
        None, description="ONNX speaker encoder used to match reference clips; default: the file "
        "`python -m function.engines.matching.export` writes inside the package (make install runs it)."
    )
    voice_index_dir: Path | None = Field(
        None, description="Directory of voice indexes (embeddings of the built-in voices): espeak's is built "
        "there at first use; EmotiVoice's is written by `emotivoice-fn voice-index` (with a snapshot: into the "
        "snapshot directory, which is read first). Default: ~/.cache/emotivoice-serverless."
    )
    voice_max_clip_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest reference clip, checked before decoding (upload or "
        "s3:// object; 413 audio_too_large). Uploads to POST /v1/audio/voices may be this large even when "
        "EMOTIVOICE_MAX_BODY_BYTES is smaller."
    )
    voice_max_per_subject: int = Field(
        20, ge=1, le=10_000, description="Custom voices one caller (JWT subject, else client address) may store "
        "(409 voice_limit_reached beyond it)."
    )
    voice_match_top_k: int = Field(
        3, ge=1, le=8, description="Built-in voices a custom voice may blend (the k nearest to the reference)."
    )
    # --- logging ---------------------------------------------------------------------------------
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["json", "text"] = Field("json", description="json: one JSON object per line.")

    @model_validator(mode="after")
    def _auth_has_a_key(self) -> Settings:
        """Refuse to start with auth that cannot work or is weak: better a clear error at start than a
        service that accepts forgeable tokens."""
        if self.auth == "jwt":
            sources = [s for s in (self.jwt_secret, self.jwt_public_key, self.jwt_jwks) if s]
            if len(sources) != 1:
                raise ValueError("EMOTIVOICE_AUTH=jwt needs exactly one of EMOTIVOICE_JWT_SECRET, "
                                 "EMOTIVOICE_JWT_PUBLIC_KEY or EMOTIVOICE_JWT_JWKS"
                                 + (f" (got {len(sources)})" if sources else ""))
            if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise ValueError(
                    f"EMOTIVOICE_JWT_SECRET is {len(self.jwt_secret.encode())} bytes; HS256 needs at least "
                    f"{MIN_HS256_SECRET_BYTES} (RFC 7518 3.2: a key as long as the hash). Generate one with "
                    "`openssl rand -base64 48`.")
        if self.event_auth == "oidc":
            if not self.event_audience:
                raise ValueError("EMOTIVOICE_EVENT_AUTH=oidc needs EMOTIVOICE_EVENT_AUDIENCE (the audience the "
                                 "Triggers' subscriber.audience names)")
            if not (self.event_jwks or self.event_issuer):
                raise ValueError("EMOTIVOICE_EVENT_AUTH=oidc needs EMOTIVOICE_EVENT_ISSUER (keys by OIDC "
                                 "discovery) or EMOTIVOICE_EVENT_JWKS")
        return self

    def chosen_engine(self) -> Literal["espeak", "emotivoice"]:
        if self.engine != "auto":
            return self.engine
        return "emotivoice" if (self.snapshot or self.home) else "espeak"

    @property
    def capacity(self) -> int:
        """Requests one process holds at once (running + waiting)."""
        return self.workers + self.queue_size
