"""Operational endpoints on the Knative Functions paths: liveness, readiness, Prometheus metrics.

Imports ``function.edge``; readiness itself is decided by ``Runtime.readiness``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from function.edge.context import RuntimeDep
from function.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/health/liveness")
async def liveness() -> dict[str, str]:
    """Up as soon as the server answers: a pod still loading its engine must not be killed."""
    return {"status": "alive"}


@router.get("/health/readiness")
async def readiness(rt: RuntimeDep) -> JSONResponse:
    """Ready only after the engine loaded and a warm-up synthesis succeeded (decided by the runtime)."""
    state = rt.readiness()
    return JSONResponse({"status": state.status, **state.details}, status_code=200 if state.ready else 503)


@router.get("/metrics")
async def metrics(rt: RuntimeDep) -> Response:
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE)
