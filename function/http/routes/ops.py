"""Operational endpoints on the Knative Functions paths: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from function.http.context import AppContext, get_context
from function.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/health/liveness")
async def liveness() -> dict[str, str]:
    """Up as soon as the server answers: a pod still loading its engine must not be killed."""
    return {"status": "alive"}


@router.get("/health/readiness")
async def readiness(ctx: Annotated[AppContext, Depends(get_context)]) -> JSONResponse:
    """Ready only after the engine loaded and a warm-up synthesis succeeded."""
    if ctx.host.ready:
        return JSONResponse({"status": "ready", "engine": ctx.host.engine.name,
                             "load_seconds": ctx.host.load_seconds})
    if ctx.host.error:
        return JSONResponse({"status": "failed", "error": ctx.host.error}, status_code=503)
    return JSONResponse({"status": "loading"}, status_code=503)


@router.get("/metrics")
async def metrics(ctx: Annotated[AppContext, Depends(get_context)]) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
