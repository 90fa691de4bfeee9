"""Fetching chat images: the address checks against server-side request forgery, limits, data URIs."""

import base64
import http.server
import threading

import pytest

from triton_openai.frontend import errors
from triton_openai.frontend.serving.image_inputs import ImageLoader, is_public_address

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
        ("not an address", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        routes = {
            "/a.png": (200, "image/png", PNG, {}),
            "/big.png": (200, "image/png", PNG * 100, {}),
            "/text": (200, "text/plain; charset=utf-8", b"hello", {}),
            "/loop": (302, "text/plain", b"", {"Location": "/loop"}),
            "/hop": (301, "text/plain", b"", {"Location": "/a.png"}),
        }
        status, content_type, body, headers = routes.get(self.path, (404, "text/plain", b"", {}))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def local():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()


async def test_loopback_is_refused_unless_allowed(local):
    with pytest.raises(errors.InvalidRequest, match="private, loopback or reserved"):
        await ImageLoader(10_000, 5).load(f"{local}/a.png")
    assert await ImageLoader(10_000, 5, allow_private=True).load(f"{local}/a.png") == PNG


async def test_redirects_content_type_size_and_status(local):
    loader = ImageLoader(1_000, 5, allow_private=True)
    assert await loader.load(f"{local}/hop") == PNG
    for path, error, message in (
        ("/loop", errors.InvalidRequest, "redirects more than"),
        ("/text", errors.InvalidRequest, "'text/plain', not an image"),
        ("/big.png", errors.PayloadTooLarge, "larger than 1000 bytes"),
        ("/gone.png", errors.InvalidRequest, "HTTP 404"),
    ):
        with pytest.raises(error, match=message):
            await loader.load(local + path)


async def test_unresolvable_hosts_and_other_schemes():
    loader = ImageLoader(1_000, 5)
    with pytest.raises(errors.InvalidRequest, match="does not resolve"):
        await loader.load("http://no-such-host.invalid/a.png")
    with pytest.raises(errors.InvalidRequest, match="neither an http"):
        await loader.load("file:///etc/passwd")


async def test_data_uris_and_the_image_count():
    loader = ImageLoader(200, 5, max_images=2)
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert await loader.load_all([uri, uri]) == [PNG, PNG]
    with pytest.raises(errors.InvalidRequest, match="at most 2 per request"):
        await loader.load_all([uri] * 3)
    with pytest.raises(errors.PayloadTooLarge):
        await loader.load("data:image/png;base64," + base64.b64encode(PNG * 3).decode())
    with pytest.raises(errors.InvalidRequest, match="empty"):
        await loader.load("data:image/png;base64,")
