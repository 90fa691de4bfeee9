"""The images of a chat request, as bytes: `data:image/...;base64,` URIs decoded, http(s) URLs fetched.

Fetching a URL the client names is a server-side request forgery risk: the server could
be made to read its own network (cloud metadata at 169.254.169.254, admin ports on
localhost, the cluster's services). So, unless `allow_private` is set:

- every address the host name resolves to must be public (not private, loopback,
  link-local, multicast, reserved or unspecified; IPv4-mapped IPv6 is unwrapped first);
- the connection goes to the address that was checked (the URL's host is swapped for it,
  with the Host header and TLS server name kept), so a second DNS answer cannot point
  elsewhere (DNS rebinding);
- redirects are followed by hand, each hop checked the same way.

Every fetch has a deadline, a size limit (read in chunks, stopped as soon as it is
passed) and needs an `image/*` content type.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import urljoin

import httpx

from triton_openai.frontend import errors

MAX_REDIRECTS = 5
_PARAM = "messages"


class ImageLoader:
    def __init__(self, max_bytes: int, timeout: float, allow_private: bool = False, max_images: int = 8) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allow_private = allow_private
        self.max_images = max_images

    async def load_all(self, urls: list[str]) -> list[bytes]:
        if len(urls) > self.max_images:
            raise errors.InvalidRequest(
                f"the messages hold {len(urls)} images; this server takes at most {self.max_images} per request",
                param=_PARAM,
            )
        return list(await asyncio.gather(*(self.load(url) for url in urls)))

    async def load(self, url: str) -> bytes:
        if url.startswith("data:"):
            return self._data_uri(url)
        if not url.lower().startswith(("http://", "https://")):
            raise errors.InvalidRequest(
                f"image URL {_short(url)} is neither an http(s) URL nor a data:image/...;base64 URI", param=_PARAM
            )
        try:
            return await asyncio.wait_for(self._fetch(url), self.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise errors.InvalidRequest(
                f"fetching image URL {_short(url)} took more than {self.timeout:g} s", param=_PARAM
            ) from None
        except httpx.HTTPError as exc:
            raise errors.InvalidRequest(f"could not fetch image URL {_short(url)}: {exc}", param=_PARAM) from None

    def _data_uri(self, url: str) -> bytes:
        header, _, payload = url.partition(",")
        media_type = header[5:].split(";")[0].strip().lower()
        if not header.endswith(";base64") or not media_type.startswith("image/"):
            raise errors.InvalidRequest("a data URI image must look like data:image/<type>;base64,<data>", param=_PARAM)
        if len(payload) * 3 // 4 > self.max_bytes + 3:
            raise self._too_large("a data URI image")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidRequest("a data URI image is not valid base64", param=_PARAM) from None
        if not data:
            raise errors.InvalidRequest("a data URI image is empty", param=_PARAM)
        return data

    async def _fetch(self, url: str) -> bytes:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=self.timeout) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = httpx.URL(url)
                if target.scheme not in ("http", "https") or not target.host:
                    raise errors.InvalidRequest(f"image URL {_short(url)} is not an http(s) URL", param=_PARAM)
                address = await self._checked_address(target)
                request = client.build_request(
                    "GET",
                    target.copy_with(host=address),
                    headers={"Host": target.netloc.decode("ascii"), "Accept": "image/*"},
                    extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
                )
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    return await self._body(url, response)
                finally:
                    await response.aclose()
        raise errors.InvalidRequest(f"image URL {_short(url)} redirects more than {MAX_REDIRECTS} times", param=_PARAM)

    async def _body(self, url: str, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise errors.InvalidRequest(
                f"fetching image URL {_short(url)} returned HTTP {response.status_code}", param=_PARAM
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise errors.InvalidRequest(
                f"image URL {_short(url)} returned content type {content_type or 'none'!r}, not an image",
                param=_PARAM,
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(f"image URL {_short(url)}")
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                raise self._too_large(f"image URL {_short(url)}")
        if not data:
            raise errors.InvalidRequest(f"image URL {_short(url)} returned no data", param=_PARAM)
        return bytes(data)

    async def _checked_address(self, url: httpx.URL) -> str:
        """An address of the URL's host that may be fetched (all of them must be, unless private ones are allowed)."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise errors.InvalidRequest(f"image URL host {url.host!r} does not resolve: {exc}", param=_PARAM) from None
        addresses = [info[4][0] for info in infos]
        if not addresses:
            raise errors.InvalidRequest(f"image URL host {url.host!r} has no address", param=_PARAM)
        if not self.allow_private:
            refused = [a for a in addresses if not is_public_address(a)]
            if refused:
                raise errors.InvalidRequest(
                    f"image URL host {url.host!r} is on a private, loopback or reserved address ({refused[0]}); "
                    "this server fetches public addresses only",
                    param=_PARAM,
                )
        return addresses[0]

    def _too_large(self, what: str) -> errors.InvalidRequest:
        return errors.PayloadTooLarge(f"{what} is larger than {self.max_bytes} bytes")


def is_public_address(text: str) -> bool:
    """Whether an IP address is on the public internet (what an image fetch may reach)."""
    try:
        address = ipaddress.ip_address(text.split("%")[0])  # drop an IPv6 zone
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _short(url: str) -> str:
    return repr(url if len(url) <= 100 else url[:97] + "...")
