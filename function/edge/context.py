"""The per-app :class:`Runtime` as a FastAPI dependency (one per app instance: no module globals).

Must not import ``function.http``, ``function.events`` or ``function.cli``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from function.service.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
