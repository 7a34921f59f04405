"""Batch greetings over HTTP: the same batches the ``dev.emotivoice.batch.requested`` event starts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from function.http.context import AppContext, get_context
from function.http.errors import ApiError
from function.http.schemas import ErrorOut
from function.service.batches import BatchConflict, BatchInvalid, BatchSpec, BatchStatus, BatchTooLarge
from function.storage import ObjectNotFound

router = APIRouter(tags=["batches"])


@router.post("/v1/batches", status_code=202, response_model=BatchStatus,
             responses={409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut},
                        503: {"model": ErrorOut}})
async def create_batch(body: BatchSpec, ctx: Annotated[AppContext, Depends(get_context)]) -> JSONResponse:
    """Start a batch (202). POSTing the same batch again (same ``batch_id``, or the same content) resumes
    it without redoing finished greetings; poll ``GET /v1/batches/{id}``."""
    try:
        batch_id, mode = await ctx.batches.start(body, ctx.publisher, ctx.settings.event_source)
    except BatchTooLarge as exc:
        raise ApiError(413, "batch_too_large", str(exc), "recipients") from None
    except BatchConflict as exc:
        raise ApiError(409, "batch_conflict", str(exc), "batch_id") from None
    except BatchInvalid as exc:
        raise ApiError(422, "invalid_recipients", str(exc), "recipients_uri") from None
    if mode == "inline":
        ctx.batches.run_in_background(batch_id)
    status = await ctx.batches.status(batch_id)
    return JSONResponse(status.model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/batches/{batch_id}"})


@router.get("/v1/batches/{batch_id}", response_model=BatchStatus, responses={404: {"model": ErrorOut}})
async def get_batch(batch_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")],
                    ctx: Annotated[AppContext, Depends(get_context)]) -> BatchStatus:
    try:
        return await ctx.batches.status(batch_id)
    except ObjectNotFound:
        raise ApiError(404, "unknown_batch", f"No batch {batch_id!r}.", "batch_id") from None
