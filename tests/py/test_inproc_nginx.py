"""nginx (Debian bookworm's 1.22.1, servers/nginx/) built unchanged as an in-process fuzzer: one
process, one thread, epoll, on the sim. An HTTP/1.x session of static files, every reply
compared byte for byte with what nginx sends; only the Date header's time is left open (it is
virtual: 2024-01-01 plus the sim's clock). Each case is one input of the binary ci/real-servers
fuzzes, with SOCKDRILL_TRANSCRIPT giving what each client sent and got."""
import re

import pytest

from inproc_servers import assert_clean, build, plan, run, session as dialogs

# The glue's requests (servers/nginx/glue.c, reqs[]), by number.
INDEX, FILE, HEAD, MISSING, PIPELINED, NOHOST, RANGE = range(7)
REQUESTS = {
    INDEX: b"GET / HTTP/1.0\r\n\r\n",
    FILE: b"GET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    HEAD: b"HEAD /file.txt HTTP/1.0\r\n\r\n",
    MISSING: b"GET /nope HTTP/1.0\r\n\r\n",
    PIPELINED: b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /file.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    NOHOST: b"GET / HTTP/1.1\r\n\r\n",
    RANGE: b"GET /file.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=6-9\r\n\r\n",
}

DATE = object()  # stands for the Date header's value
LASTMOD = b"Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
ETAG = b'ETag: "65920080-11"\r\n'  # mtime 2024-01-01 in hex, 17 bytes


def head(status, ctype, length, conn, *more):
    return (b"HTTP/1.1 " + status + b"\r\nServer: nginx\r\nDate: ", DATE,
            b"\r\nContent-Type: " + ctype + b"\r\nContent-Length: %d\r\n" % length) + more + (
            b"Connection: " + conn + b"\r\n",)


def ok(ctype, conn, body):
    return head(b"200 OK", ctype, 17, conn, LASTMOD) + (ETAG, b"Accept-Ranges: bytes\r\n\r\n",
                                                       body)


def page(status):
    html = (b"<html>\r\n<head><title>" + status + b"</title></head>\r\n<body>\r\n<center><h1>" +
            status + b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    return head(status, b"text/html", len(html), b"close") + (b"\r\n", html)


def pattern(*parts):
    """A full match: bytes literally, DATE any time of 2024-01-01."""
    return re.compile(b"".join(rb"Mon, 01 Jan 2024 \d\d:\d\d:\d\d GMT" if p is DATE
                               else re.escape(p) for p in parts), re.S)


INDEX_BODY, FILE_BODY = b"<p>sockdrill</p>\n", b"hello from nginx\n"
REPLIES = {
    INDEX: pattern(*ok(b"text/html", b"close", INDEX_BODY)),
    FILE: pattern(*ok(b"text/plain", b"keep-alive", FILE_BODY)),
    HEAD: pattern(*ok(b"text/plain", b"close", b"")),
    MISSING: pattern(*page(b"404 Not Found")),
    PIPELINED: pattern(*ok(b"text/html", b"keep-alive", INDEX_BODY),
                       *ok(b"text/plain", b"keep-alive", FILE_BODY)),
    NOHOST: pattern(*page(b"400 Bad Request")),
    RANGE: pattern(*head(b"206 Partial Content", b"text/plain", 4, b"keep-alive", LASTMOD),
                   ETAG, b"Content-Range: bytes 6-9/17\r\n\r\nfrom"),
}


@pytest.fixture(scope="module")
def exe():
    return build("nginx")


def session(exe, tmp_path, *clients, **faults):
    """Runs one input; its transcript, after checking the run was clean and each client's
    bytes went out whole."""
    r = run(exe, plan(*clients, **faults), tmp_path)
    assert_clean(r)
    assert len(r.clients) == len(clients)
    for c in r.clients:
        assert c["err"] == 0, c
        if c["which"] and c["which"][0] >= 0:
            assert c["sent"] == b"".join(REQUESTS[w] for w in c["which"])
    return r


def assert_reply(r, i, which):
    got = r.reply(i)
    assert REPLIES[which].fullmatch(got), f"client {i}, request {which}: {got!r}"


@pytest.mark.parametrize("which", sorted(REQUESTS))
def test_each_request_whole(exe, tmp_path, which):
    r = session(exe, tmp_path, which)
    assert_reply(r, 0, which)


@pytest.mark.parametrize("which", sorted(REQUESTS))
def test_each_request_cut_and_short(exe, tmp_path, which):
    """Sent in four pieces, delivered in 3-byte segments, read and written a byte at a time:
    the same reply (nginx reads edge-triggered until a read comes back short)."""
    n = len(REQUESTS[which])
    r = session(exe, tmp_path, {"which": which, "cuts": [n // 4, n // 2, 3 * n // 4], "gap": 7},
                seed=which + 1, segment=3, short_read=1, short_write=1)
    assert_reply(r, 0, which)


def test_pipelined_second_request_after_the_first_reply(exe, tmp_path):
    """The second request of a keep-alive connection arrives when the first is answered."""
    cut = REQUESTS[PIPELINED].index(b"GET /file.txt")
    r = session(exe, tmp_path, {"which": PIPELINED, "cuts": [cut], "gap": 255}, short_read=2)
    assert_reply(r, 0, PIPELINED)


def test_four_clients_at_once(exe, tmp_path):
    r = session(exe, tmp_path, INDEX, {"which": PIPELINED, "cuts": [20, 40]}, MISSING,
                {"which": RANGE, "cuts": [5], "gap": 3}, seed=5, segment=2, short_read=3,
                short_write=2)
    for i, which in enumerate([INDEX, PIPELINED, MISSING, RANGE]):
        assert_reply(r, i, which)


@pytest.mark.parametrize("raw,reply", [
    (b"\x16\x03\x01\x00\x05hello\r\n\r\n", page(b"400 Bad Request")),
    (b"GET /../x HTTP/1.0\r\n\r\n", page(b"400 Bad Request")),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", page(b"505 HTTP Version Not Supported")),
    (b"POST /file.txt HTTP/1.0\r\nContent-Length: 2\r\n\r\nab", page(b"405 Not Allowed")),
    (b"GET /file.txt\r\n", (FILE_BODY,)),  # HTTP/0.9: the body alone
], ids=["tls-hello", "dot-dot", "http2.0", "post", "http0.9"])
def test_malformed_and_odd_requests(exe, tmp_path, raw, reply):
    r = session(exe, tmp_path, {"raw": raw, "cuts": [3]})
    assert r.clients[0]["sent"] == raw
    assert pattern(*reply).fullmatch(r.reply(0)), r.reply(0)


def test_http09_dialog_is_no_finding(exe, tmp_path):
    """A request line nginx takes for HTTP/0.9 (two spaces: no version) is answered with the
    body alone; the session oracle expects a status line only after a well-formed HTTP/1
    request line (the first dialog campaign's false finding)."""
    r = run(exe, dialogs({"msgs": [{"raw": b"GET  /HTTP/1.0\r\n\r\n", "after": "none"}, 1]}),
            tmp_path)
    assert_clean(r)
    assert r.reply(0).startswith(b"<html>")
