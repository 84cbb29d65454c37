"""lighttpd (Debian bookworm's 1.4.69, servers/lighttpd/) built unchanged as an in-process
fuzzer and run on the sim: a static-file session over HTTP/1.x, each reply checked byte for
byte against what lighttpd sends (the Date header's time is virtual: 2024-01-01 plus the sim's
clock). Every request goes through the same binary ci/real-servers fuzzes, one input per run,
with SOCKDRILL_TRANSCRIPT giving what each client sent and got."""
import re

import pytest

from inproc_servers import assert_clean, build, plan, run

# The glue's request numbers (servers/lighttpd/glue.c, reqs[]).
INDEX, FILE, HEAD, MISSING, KEEPALIVE, NOHOST, GARBAGE, RANGE, ALIAS, DIR, FORBIDDEN, BIGRANGE = range(12)

DATE = rb"Date: Mon, 01 Jan 2024 00:0\d:\d\d GMT\r\nServer: lighttpd\r\n\r\n"
LASTMOD = b"Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"


def reply_re(*parts):
    """A full-match pattern: bytes parts are literal, DATE stands for the Date and Server
    headers and the blank line."""
    return re.compile(b"".join(p if p is DATE else re.escape(p) for p in parts), re.S)


FILE_TXT = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", LASTMOD,
            b"Content-Length: 20\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n", DATE,
            b"hello from lighttpd\n")
FORBIDDEN_PAGE = (
    b'<?xml version="1.0" encoding="iso-8859-1"?>\n'
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    b'         "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    b" <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
    b"  <h1>403 Forbidden</h1>\n </body>\n</html>\n")


def big_bytes(start, end):
    """Bytes start..end (inclusive) of the glue's big.bin: line i is i in 15 digits and \\n."""
    out = b"".join(b"%015d\n" % i for i in range(start // 16, end // 16 + 1))
    return out[start % 16:start % 16 + end - start + 1]


REPLIES = {
    INDEX: reply_re(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n", LASTMOD,
                    b"Content-Length: 19\r\nX-Sd: 1\r\nConnection: close\r\n", DATE,
                    b"<html>index</html>\n"),
    FILE: reply_re(*FILE_TXT),
    HEAD: reply_re(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n", LASTMOD,
                   b"Content-Length: 20\r\nX-Sd: 1\r\nConnection: close\r\n", DATE),
    MISSING: reply_re(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nX-Sd: 1\r\n"
                      b"Content-Length: 10\r\nConnection: close\r\n", DATE, b"not found\n"),
    # two requests in one message: two replies, the second to a HEAD that closes
    KEEPALIVE: reply_re(*FILE_TXT, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", LASTMOD,
                        b"Content-Length: 19\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n"
                        b"Connection: close\r\n", DATE),
    NOHOST: reply_re(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                     b"Content-Length: 12\r\nConnection: close\r\n", DATE, b"bad request\n"),
    GARBAGE: reply_re(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\n"
                      b"Content-Length: 12\r\nConnection: close\r\n", DATE, b"bad request\n"),
    RANGE: reply_re(b"HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\n", LASTMOD,
                    b"Content-Length: 5\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n"
                    b"Content-Range: bytes 0-4/20\r\n", DATE, b"hello"),
    ALIAS: reply_re(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n", LASTMOD,
                    b"Content-Length: 2\r\nX-Sd: 1\r\nConnection: close\r\n", DATE, b"a\n"),
    DIR: reply_re(b"HTTP/1.0 301 Moved Permanently\r\nLocation: /dir/\r\nX-Sd: 1\r\n"
                  b"Content-Length: 0\r\nConnection: close\r\n", DATE),
    FORBIDDEN: reply_re(b"HTTP/1.0 403 Forbidden\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 341\r\nConnection: close\r\n", DATE, FORBIDDEN_PAGE),
    BIGRANGE: reply_re(b"HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n",
                       LASTMOD, b"Content-Length: 32\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n"
                       b"Content-Range: bytes 1048576-1048607/1600000\r\n", DATE,
                       big_bytes(1048576, 1048607)),
}


@pytest.fixture(scope="module")
def exe():
    return build("lighttpd")


def check_reply(r, i, which):
    got = r.reply(i)
    assert r.clients[i]["which"] == [which]
    assert r.clients[i]["err"] == 0, r.clients[i]
    assert REPLIES[which].fullmatch(got), f"client {i}, request {which}: got {got!r}"


@pytest.mark.parametrize("which", sorted(REPLIES))
def test_each_request_gets_its_reply(exe, tmp_path, which):
    r = run(exe, plan(which), tmp_path)
    assert_clean(r)
    assert len(r.clients) == 1
    check_reply(r, 0, which)


def test_four_clients_at_once(exe, tmp_path):
    reqs = [KEEPALIVE, MISSING, GARBAGE, BIGRANGE]
    r = run(exe, plan(*reqs, seed=11), tmp_path)
    assert_clean(r)
    for i, which in enumerate(reqs):
        check_reply(r, i, which)


def test_cut_requests_and_server_faults_change_nothing(exe, tmp_path):
    # Requests in pieces with pauses, segments of 5 bytes, short reads and writes on
    # lighttpd's side: the same bytes come back.
    clients = [{"which": KEEPALIVE, "cuts": [3, 40, 41], "gap": 20},
               {"which": RANGE, "cuts": [17], "gap": 255},
               {"which": FORBIDDEN, "cuts": [1, 2, 3]}]
    r = run(exe, plan(*clients, seed=7, segment=5, short_read=3, short_write=2), tmp_path)
    assert_clean(r)
    for i, c in enumerate(clients):
        check_reply(r, i, c["which"])


@pytest.mark.parametrize("raw", [b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                                 b"GET /\x7f HTTP/1.0\r\n\r\n",
                                 b"GET / HTTP/1.0\r\nContent-Length: x\r\n\r\n"],
                         ids=["two-hosts", "control-char", "bad-length"])
def test_malformed_requests_get_400(exe, tmp_path, raw):
    # As Debian's own lighttpd answers them, with the glue's error file.
    r = run(exe, plan({"raw": raw}), tmp_path)
    assert_clean(r)
    assert r.clients[0]["sent"] == raw
    version = b"1.1" if b"HTTP/1.1" in raw else b"1.0"
    want = reply_re(b"HTTP/" + version + b" 400 Bad Request\r\nContent-Type: text/html\r\n"
                    b"Content-Length: 12\r\nConnection: close\r\n", DATE, b"bad request\n")
    assert want.fullmatch(r.reply(0)), r.reply(0)


def test_big_file_goes_out_through_sendfile(exe, tmp_path):
    # The whole 1.6 MB file: lighttpd sends it with sendfile (a real file to a sim socket), and
    # the client gets it whole and exact; the trace shows the sendfile pieces.
    raw = b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"
    r = run(exe, plan({"raw": raw}), tmp_path, env={"SOCKDRILL_TRACE": "1"})
    assert_clean(r)
    got = r.reply(0)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + LASTMOD +
            b"Content-Length: 1600000\r\nX-Sd: 1\r\nAccept-Ranges: bytes\r\n")
    m = re.match(re.escape(head) + DATE, got)
    assert m, got[:600]
    body = got[m.end():]
    assert len(body) == 1600000 and body == big_bytes(0, 1600000 - 1), len(body)
    # after the headers (one sendmsg), the file through the layer's sendfile: each sendfile
    # call of lighttpd's (a few hundred KiB) offered in pieces of 4 KiB doubling up to 64 KiB
    # (harness/libc/io.c), the call's last piece what is left of it; every byte of the file
    # once (libFuzzer may run the input a second time: the first run's trace)
    first = r.stderr.split("main spawn(server)")[1]
    offered = [int(n) for n in re.findall(r"server send\(\d+, (\d+) bytes, 0x0\)", first)]
    assert offered[:5] == [4096, 8192, 16384, 32768, 65536], offered
    assert sum(offered) == 1600000, offered
    expect = 4096
    for k in offered:
        if k == 4096:  # a new sendfile call starts small again
            expect = 4096
        assert k <= expect, offered
        expect = min(2 * k, 65536) if k == expect else 4096
