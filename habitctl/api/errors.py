"""Domain errors and HTTP errors as JSON bodies of one shape, `{"error": {...}}`.

The database's address never reaches a client: a StorageError names it for the operator's
log, and the client only learns that the database is unavailable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from habitctl.errors import HabitctlError, InvalidInput, NotFound, StorageError

logger = logging.getLogger("habitctl.api")

UNAVAILABLE = "the database is unavailable; try again later"
_STATUS: list[tuple[type[HabitctlError], int]] = [
    (NotFound, 404),
    (InvalidInput, 422),
    (StorageError, 503),
]
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def json_response(
    data: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code, headers, media_type="application/json")


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    payload = {"error": {"code": code, "message": message, "field": field}}
    return json_response(payload, status_code, headers)


async def _domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HabitctlError)
    status = next((status for kind, status in _STATUS if isinstance(exc, kind)), 500)
    if isinstance(exc, StorageError):
        logger.warning("answering 503: %s", exc.message)
        return error_response(503, exc.code, UNAVAILABLE, None)
    return error_response(status, exc.code, exc.message, exc.field)


async def _database_error(_request: Request, exc: Exception) -> Response:
    # Errors translate_db_errors does not classify (a lost connection surfacing as
    # InterfaceError, a schema dropped under a running server) still mean "cannot serve".
    logger.error("answering 503 after a database error", exc_info=exc)
    return error_response(503, StorageError.code, UNAVAILABLE, None)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    field = location[-1] if location else None
    where = f"{location[0]} parameter {field!r}" if len(location) > 1 else "the request"
    return error_response(422, InvalidInput.code, f"{where} is invalid: {first['msg']}", field)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None, exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HabitctlError, _domain_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
