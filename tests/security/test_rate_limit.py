"""Per-subject token buckets: the arithmetic on a fake clock, then 429 + Retry-After + the IETF RateLimit
fields on a real server (subjects by JWT ``sub``, or by client address without auth)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from function.ratelimit import TokenBucketLimiter
from tests.conftest import run_server
from tests.security.issuer import mint

SECRET = "rate-limit-test-secret-longer-than-32-bytes"
# draft-ietf-httpapi-ratelimit-headers-11: Structured Field lists of a String with parameters.
POLICY = re.compile(r'^"per-subject";q=(\d+);w=(\d+)$')
LIMIT = re.compile(r'^"per-subject";r=(\d+);t=(\d+)$')


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_arithmetic() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=0.5, burst=3, clock=clock)  # a token every 2 s
    outcomes = [limiter.take("a") for _ in range(4)]
    assert [d.allowed for d in outcomes] == [True, True, True, False]
    assert [d.remaining for d in outcomes] == [2, 1, 0, 0]
    assert outcomes[-1].reset_seconds == 2  # the next token is 2 s away
    assert limiter.take("b").allowed  # subjects do not share buckets
    clock.now += 1.0  # half a token
    refused = limiter.take("a")
    assert not refused.allowed and refused.reset_seconds == 1
    clock.now += 1.0  # one whole token
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    clock.now += 3600  # refills to the burst, never beyond
    assert [limiter.take("a").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.window_seconds == 6  # 3 tokens at 0.5/s
    assert limiter.policy_header() == '"per-subject";q=3;w=6'


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=1, burst=2, clock=clock, max_subjects=50)
    for i in range(1000):
        limiter.take(f"subject-{i}")
    assert len(limiter) == 50
    clock.now += 10
    limiter.take("subject-999")  # refilled to the burst, then took one: still tracked
    assert len(limiter) == 50


def test_rejection_is_a_rate_limited_service_error() -> None:
    limiter = TokenBucketLimiter(rate=0.25, burst=1, clock=FakeClock())
    limiter.take("a")
    decision = limiter.take("a")
    error = limiter.rejection(decision)
    assert error.kind.http_status == 429 and error.code == "rate_limited" and error.retry_after == 4
    assert "one per 4 seconds" in error.message


def auth(sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(SECRET, 'HS256', sub=sub, scope='voices synthesize')}"}


def test_429_with_retry_after_and_ratelimit_fields_per_subject() -> None:
    # 0.001/s: the bucket cannot refill during the test, so the outcome does not depend on timing.
    with run_server(engine="espeak", auth="jwt", jwt_secret=SECRET, rate_limit_per_second=0.001,
                    rate_limit_burst=2) as srv:
        url = f"{srv.url}/v1/models"
        first, second, third = (httpx.get(url, headers=auth("alice")) for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
        for r in (first, second, third):
            policy = POLICY.match(r.headers["ratelimit-policy"])
            assert policy and policy.groups() == ("2", "2000")
        assert LIMIT.match(first.headers["ratelimit"]).group(1) == "1"  # type: ignore[union-attr]
        assert LIMIT.match(second.headers["ratelimit"]).group(1) == "0"  # type: ignore[union-attr]
        limit = LIMIT.match(third.headers["ratelimit"])
        assert limit and limit.group(1) == "0"
        # Retry-After is the effective window: the client may send nothing more before it.
        assert int(third.headers["retry-after"]) == int(limit.group(2)) > 0
        body = third.json()["error"]
        assert body["code"] == "rate_limited" and body["type"] == "rate_limit_error"
        # Another subject has its own bucket; streaming and JSON routes carry the fields too.
        speech = httpx.post(f"{srv.url}/v1/audio/speech", json={"input": "hi", "voice": "alloy"},
                            headers=auth("bob"))
        assert speech.status_code == 200 and "ratelimit" in speech.headers
        # Refused tokens consume nothing, and paths outside /v1 are not metered.
        for _ in range(5):
            assert httpx.get(url).status_code == 401
            for path in ("/health/liveness", "/health/readiness", "/metrics"):
                r = httpx.get(f"{srv.url}{path}")
                assert r.status_code == 200 and "ratelimit" not in r.headers
        assert httpx.get(url, headers=auth("bob")).status_code == 200
        assert 'status="429"' in httpx.get(f"{srv.url}/metrics").text


def test_without_auth_the_subject_is_the_client_address() -> None:
    with run_server(engine="espeak", rate_limit_per_second=0.001, rate_limit_burst=1) as srv:
        url = f"{srv.url}/v1/models"
        assert httpx.get(url).status_code == 200
        # A made-up sub in an unverified token changes nothing: without auth there are no claims.
        r = httpx.get(url, headers=auth("mallory"))
        assert r.status_code == 429
        # The CloudEvents ingress is not metered (the broker retries on the queue's own 429/503).
        for _ in range(3):
            event = httpx.post(f"{srv.url}/", content=json.dumps({"text": "hi"}),
                               headers={"content-type": "application/json", "ce-specversion": "1.0"})
            assert event.status_code == 400


@pytest.mark.parametrize("rate,burst,window", [(2.0, 20, 10), (0.3, 1, 4), (100.0, 1, 1)])
def test_policy_window_is_the_refill_time(rate: float, burst: int, window: int) -> None:
    assert TokenBucketLimiter(rate, burst).window_seconds == window
