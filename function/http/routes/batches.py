"""Batch greetings over HTTP: the same batches the ``dev.emotivoice.batch.requested`` event starts.

Imports ``function.edge`` and the service layer; never ``function.events``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from function.edge.context import RuntimeDep
from function.http.schemas import ErrorOut
from function.service.batches import BatchSpec, BatchStatus

router = APIRouter(tags=["batches"])


def caller(request: Request) -> str:
    """Who is asking, for per-caller limits: the JWT subject when auth is on, else the client address."""
    claims = request.scope.get("state", {}).get("claims") or {}
    if isinstance(claims, dict) and claims.get("sub"):
        return f"sub:{claims['sub']}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


@router.post("/v1/batches", status_code=202, response_model=BatchStatus,
             responses={409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut},
                        503: {"model": ErrorOut}})
async def create_batch(body: BatchSpec, rt: RuntimeDep, request: Request) -> JSONResponse:
    """Start a batch (202). POSTing the same batch again (same ``batch_id``, or the same content) resumes
    it without redoing finished greetings; poll ``GET /v1/batches/{id}``."""
    subject = caller(request)
    batch_id, mode = await rt.batches.start(body, subject=subject)
    if mode == "inline":
        rt.batches.run_in_background(batch_id, subject)
    status = await rt.batches.status(batch_id)
    return JSONResponse(status.model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/batches/{batch_id}"})


@router.get("/v1/batches/{batch_id}", response_model=BatchStatus, responses={404: {"model": ErrorOut}})
async def get_batch(batch_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")],
                    rt: RuntimeDep) -> BatchStatus:
    return await rt.batches.status(batch_id)
