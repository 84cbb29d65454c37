"""mosquitto (Debian 12's broker, built unchanged by ci/real-servers as an in-process fuzzer)
speaks MQTT 3.1.1 on the sim: a client connects, subscribes, publishes to itself, pings and
disconnects, and gets the broker's exact bytes back, however the session is cut and whatever
the server's short reads and writes; a message from another client reaches a subscriber; the
broker's protocol errors close the connection. The requests are the glue's
(servers/mosquitto/glue.c); each test runs the fuzzer binary on one input and reads the
transcript of what every client sent and got."""
import pytest

import inproc_servers as srv

CONNECT = bytes.fromhex("100c00044d5154540402003c0000")  # 3.1.1, empty id, clean, 60 s
SUBSCRIBE = bytes.fromhex("820800010003") + b"a/b" + b"\x00"  # a/b at QoS 0, packet id 1
PUBLISH = bytes.fromhex("30070003") + b"a/b" + b"hi"  # "hi" to a/b at QoS 0
PINGREQ = bytes.fromhex("c000")
DISCONNECT = bytes.fromhex("e000")

CONNACK = bytes.fromhex("20020000")
SUBACK = bytes.fromhex("9003000100")
PINGRESP = bytes.fromhex("d000")

# The glue's request numbers.
SESSION, PING, QOS, CONNECT31, TWO_CONNECTS, PING_FIRST = 1, 2, 4, 6, 7, 8


@pytest.fixture(scope="module")
def exe():
    return srv.build("mosquitto")


def run(exe, tmp_path, *clients, **kw):
    r = srv.run(exe, srv.plan(*clients, **kw), tmp_path)
    srv.assert_clean(r)
    assert len(r.clients) == len(clients), r.stderr[-2000:]
    return r


def test_session_connect_subscribe_publish_ping(exe, tmp_path):
    r = run(exe, tmp_path, SESSION)
    assert r.clients[0]["sent"] == CONNECT + SUBSCRIBE + PUBLISH + PINGREQ + DISCONNECT
    assert r.clients[0]["err"] == 0
    assert r.reply(0) == CONNACK + SUBACK + PUBLISH + PINGRESP


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_session_cut_and_short_io_same_bytes(exe, tmp_path, seed):
    """Cut inside the fixed header, inside the remaining length and between packets, with
    pauses, on segmenting links and with server reads and writes of a byte or two."""
    r = run(exe, tmp_path, {"which": SESSION, "cuts": [1, 15, 26], "gap": 7}, seed=seed,
            segment=seed, short_read=seed, short_write=seed)
    assert r.reply(0) == CONNACK + SUBACK + PUBLISH + PINGRESP


def test_ping_and_qos_flows(exe, tmp_path):
    r = run(exe, tmp_path, PING, QOS)
    assert r.reply(0) == CONNACK + PINGRESP
    # PUBACK for the QoS 1 message (id 5), PUBREC then, on PUBREL, PUBCOMP for QoS 2 (id 6)
    assert r.reply(1) == CONNACK + bytes.fromhex("40020005 50020006 70020006")


def test_message_from_another_client(exe, tmp_path):
    """A dialog: the subscriber waits for CONNACK and SUBACK, then pauses 200 virtual ms; the
    other client connects, waits 100 ms and publishes to a/b. The foreign message arrives
    during the pause, before the subscriber's own PUBLISH comes back."""
    foreign = bytes.fromhex("30070003") + b"a/b" + b"yo"
    sub = {"msgs": [{"raw": CONNECT}, {"raw": SUBSCRIBE, "after": "sleep", "ms": 200},
                    {"raw": PUBLISH}, {"raw": PINGREQ}, {"raw": DISCONNECT}]}
    pub = {"msgs": [{"raw": CONNECT, "after": "sleep", "ms": 100},
                    {"raw": foreign, "after": "none"}]}
    r = srv.run(exe, srv.session(sub, pub), tmp_path)
    srv.assert_clean(r)
    assert r.reply(0) == CONNACK + SUBACK + foreign + PUBLISH + PINGRESP
    assert r.reply(1) == CONNACK
    assert r.clients[0]["sent"] == CONNECT + SUBSCRIBE + PUBLISH + PINGREQ + DISCONNECT


def test_dialog_of_protocol_messages(exe, tmp_path):
    """The glue's messages as a dictionary: CONNECT alone (0), then the ping session (2) after
    its reply, on one connection; the broker closes on the second CONNECT that session holds."""
    r = srv.run(exe, srv.session({"msgs": [0, PING]}), tmp_path)
    srv.assert_clean(r)
    assert r.clients[0]["which"] == [0, PING]
    assert r.reply(0) == CONNACK


def test_protocol_errors_close_the_connection(exe, tmp_path):
    r = run(exe, tmp_path, CONNECT31, TWO_CONNECTS, PING_FIRST)
    assert r.reply(0) == bytes.fromhex("20020002")  # 3.1 needs a client id: identifier rejected
    assert r.reply(1) == CONNACK  # a second CONNECT: closed without an answer
    assert r.reply(2) == b""  # anything before CONNECT: closed


def test_raw_bytes_not_mqtt_are_dropped(exe, tmp_path):
    """Raw bytes that are no MQTT at all get the connection closed, which the lenient oracle
    accepts; a raw CONNECT gets its CONNACK."""
    r = run(exe, tmp_path, {"raw": b"GET / HTTP/1.0\r\n\r\n"}, {"raw": CONNECT + DISCONNECT})
    assert r.reply(0) == b""
    assert r.reply(1) == CONNACK


def test_mqtt5_assigned_client_id_replays(exe, tmp_path):
    """An MQTT 5 client without an id gets one the broker makes up from getrandom; the same
    input gives the same CONNACK, byte for byte (docs/inproc.md, "Random bytes")."""
    v5 = bytes.fromhex("100d00044d5154540502003c000000")  # MQTT 5, empty id, no properties
    replies = []
    for k in range(2):
        d = tmp_path / str(k)
        d.mkdir()
        replies.append(run(exe, d, {"raw": v5}).reply(0))
    assert replies[0][:4] == bytes.fromhex("20350000")  # CONNACK, 53 bytes on: no session, success
    assert b"auto-" in replies[0]  # property 0x12, the assigned client identifier
    assert replies[0] == replies[1]
