"""python-telegram-bot's HTTP on aiohttp (`telegram.request.BaseRequest`, SPEC §2 keeps PTB).

PTB's own `HTTPXRequest` costs the daemon most of its CPU per reminder: httpx and httpcore
walk the whole connection pool on every request and wrap each socket call in anyio. aiohttp
(its C parser, a plain connection pool) sends the same request for a fraction of that
(`benchmarks/README.md`). Errors map the way `HTTPXRequest` maps them: a timeout is
`TimedOut` (the message may have arrived), any other transport failure `NetworkError`.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Body = bytes | aiohttp.FormData | None


class AiohttpRequest(BaseRequest):
    """One `aiohttp.ClientSession` with up to `connections` keep-alive connections."""

    def __init__(
        self,
        connections: int = 1,
        read_timeout: float = 5.0,
        write_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        pool_timeout: float = 5.0,
    ) -> None:
        self.connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Opens the session (inside the running loop, as aiohttp requires)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        write = self._write_timeout if isinstance(write_timeout, DefaultValue) else write_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp has no write timeout of its own: the whole exchange is bounded by the sum.
        total = None if read is None else read + (write or 0.0) + (connect or 0.0) + (pool or 0.0)
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if connect is None else connect + (pool or 0.0),  # pool wait included
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = self._body(request_data)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:  # its text may quote the URL, which holds the token
            reason = str(exc).replace(url, "<Bot API URL>")
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {reason}") from exc

    @staticmethod
    def _body(request_data: RequestData | None) -> tuple[Body, dict[str, str] | None]:
        """Form-encoded parameters, or multipart when files go with them (as PTB posts). The
        form is encoded here: aiohttp's `FormData` would set up a multipart writer (and draw
        its random boundary) for every request."""
        if request_data is None:
            return None, None
        if not request_data.contains_files:
            return request_data.url_encoded_parameters().encode(), FORM
        form = aiohttp.FormData()
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, part in request_data.multipart_data.items():
            filename, content, mime_type = part
            form.add_field(name, content, filename=filename, content_type=mime_type)
        return form, None
