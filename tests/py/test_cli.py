"""The sockdrill CLI: help, version, list, demo, and its answers to bad input."""
import re
import socket

import pytest

from conftest import ROOT, host_tunables


def test_help_lists_commands(sockdrill):
    r = sockdrill("--help")
    assert r.returncode == 0
    for cmd in ("list", "demo"):
        assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), r.stdout
    assert "exit status" in r.stdout


@pytest.mark.parametrize("cmd", ["list", "demo"])
def test_each_command_has_help(sockdrill, cmd):
    r = sockdrill(cmd, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith(f"usage: sockdrill {cmd}")


def test_version(sockdrill):
    r = sockdrill("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"sockdrill \d+\.\d+\.\d+\n", r.stdout)


def test_list_names_real_and_sim_backends(sockdrill):
    r = sockdrill("list")
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names[:2] == ["real", "sim"]


def test_run_profile_picks_the_sim_schedule(sockdrill, tmp_path):
    # the 6.18 schedule lets the turned-away connect in at 4 s; linux-6.1's only at 7 s. The
    # corpus file requires 6.18's values (docs/scenarios.md): without those lines the profile
    # decides.
    src = ROOT / "corpus/scenarios/connect/syn_retry_schedule.sd"
    f = tmp_path / "syn.sd"
    f.write_text("".join(line for line in src.read_text().splitlines(keepends=True)
                         if not line.startswith("requires ")))
    assert sockdrill("run", f).returncode == 0
    old = sockdrill("run", "--profile", "linux-6.1", f)
    assert old.returncode == 1, old.stdout + old.stderr
    assert "poll(B, OUT, 3000) -> OUT" in old.stdout + old.stderr
    assert "--profile linux-6.1" in old.stdout + old.stderr  # the reproduce command keeps it
    # with the lines, the file's values win over the profile's
    assert sockdrill("run", "--profile", "linux-6.1", src).returncode == 0


def test_list_names_the_sim_profiles(sockdrill):
    r = sockdrill("list")
    assert r.returncode == 0
    profiles = re.findall(r"^(linux-\S+) +syn_retries=(\d+) syn_linear_timeouts=(\d+) hz=(\d+)",
                          r.stdout, re.M)
    assert profiles[0] == ("linux-6.18", "6", "4", "250")  # the default comes first
    assert ("linux-6.1", "6", "0", "250") in profiles
    # this machine's comes last, as read here (tests/py/conftest.py reads it apart)
    host = re.findall(r"^host +syn_retries=(\d+) syn_linear_timeouts=(\d+) hz=(\d+) .* "
                      r"fin_timeout=(\d+)$", r.stdout, re.M)
    t = host_tunables()
    assert host == [tuple(str(t[k]) for k in ("syn-retries", "syn-linear-timeouts", "hz",
                                               "fin-timeout"))], r.stdout
    # each profile's second line: the tunables added later, in the order of the profiles
    more = re.findall(r"^ +tcp_rmem_max=(\d+) tcp_peek_off=(\d) tw_reuse=(\d) "
                      r"tw_reuse_delay=(\d+)$", r.stdout, re.M)
    assert more[0] == ("33554432", "1", "2", "1000")  # linux-6.18
    assert ("6291456", "0", "2", "1000") in more       # linux-6.1: no SO_PEEK_OFF on TCP
    assert more[-1] == tuple(str(t[k]) for k in ("tcp-rmem-max", "tcp-peek-off", "tw-reuse",
                                                  "tw-reuse-delay")), r.stdout


def parse_demo(out):
    served = re.search(r"^served:\s+(\d+)/(\d+) clients answered correctly .*?(\d+) accepted, "
                       r"(\d+) answered, (\d+) errors", out, re.M)
    bytes_ = re.search(r"^bytes:\s+(\d+) sent by clients, (\d+) received", out, re.M)
    assert served and bytes_, out
    return [int(x) for x in served.groups()], [int(x) for x in bytes_.groups()]


def test_demo_serves_all_clients(sockdrill):
    r = sockdrill("demo")
    assert r.returncode == 0, r.stdout + r.stderr
    (ok, total, accepted, answered, errors), (sent, received) = parse_demo(r.stdout)
    assert (ok, total, accepted, answered, errors) == (100, 100, 100, 100, 0)
    question, answer = "When is Charles' birthday?\n", "Charles' birthday is on 14 November.\n"
    assert sent == 100 * len(question)
    assert received == 100 * len(answer)
    assert re.search(r"server 127\.0\.0\.1:\d+, 100 clients \(100 at once\)", r.stdout)


def test_demo_over_ipv6_with_limited_concurrency(sockdrill):
    r = sockdrill("demo", "--host", "::1", "--clients", "250", "--concurrency", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    (ok, total, accepted, _, errors), _ = parse_demo(r.stdout)
    assert (ok, total, accepted, errors) == (250, 250, 250, 0)
    assert "server [::1]:" in r.stdout


def test_demo_on_sim_serves_ten_thousand_clients(sockdrill):
    r = sockdrill("demo", "--backend", "sim", "--clients", "10000", "--seed", "4", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (ok, total, accepted, answered, errors), (sent, received) = parse_demo(r.stdout)
    assert (ok, total, accepted, answered, errors) == (10000, 10000, 10000, 10000, 0)
    assert (sent, received) == (10000 * 27, 10000 * 37)
    assert re.search(r"^sim:\s+seed 4, [0-9.]+ s virtual, \d+ socket calls, 0 descriptors", r.stdout,
                     re.M)


def without_wall_clock(out):
    return [line for line in out.splitlines() if not line.startswith("time:")]


def test_demo_on_sim_is_repeatable_by_seed(sockdrill):
    runs = [sockdrill("demo", "--backend", "sim", "--clients", "300", "--seed", seed).stdout
            for seed in ("9", "9", "10")]
    assert without_wall_clock(runs[0]) == without_wall_clock(runs[1])
    assert without_wall_clock(runs[0]) != without_wall_clock(runs[2])  # another ephemeral port
    assert any(line.startswith("time:") for line in runs[0].splitlines())


def test_demo_on_sim_many_clients_spread_over_sources(sockdrill):
    # Past 20k at once, clients bind 127.0.0.x sources: one address holds ~28k at most.
    r = sockdrill("demo", "--backend", "sim", "--clients", "30000", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert parse_demo(r.stdout)[0][:2] == [30000, 30000]


def test_demo_port_in_use(sockdrill):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        r = sockdrill("demo", "--port", port)
    finally:
        holder.close()
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert f"port already in use: cannot bind 127.0.0.1:{port} (EADDRINUSE)" in r.stderr


def test_demo_refuses_non_loopback_host(sockdrill):
    r = sockdrill("demo", "--host", "192.0.2.1")
    assert r.returncode == 2
    assert "not a loopback address" in r.stderr


@pytest.mark.parametrize("backend", ["real", "sim"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::ffff:0.0.0.0", "0.0.0.0:0", "[::]:0"])
def test_demo_refuses_wildcard_hosts(sockdrill, host, backend):
    # A wildcard serves on every interface; --help promises loopback only.
    r = sockdrill("demo", "--backend", backend, "--host", host, "--clients", "1", timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    assert r.stderr == (f"sockdrill demo: --host {host} is not a loopback address; the demo "
                        "serves on 127.0.0.0/8 or ::1 only\n")


def test_demo_port_given_once(sockdrill):
    # ADDR:PORT names the port when --port is absent; with --port too, it is ambiguous.
    r = sockdrill("demo", "--host", "127.0.0.1:0", "--port", "0", "--clients", "1", timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == ("sockdrill demo: --host 127.0.0.1:0 carries a port and --port 0 was "
                        "given too: give the port once\n")
    r = sockdrill("demo", "--host", "[::1]:0", "--clients", "3", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"server \[::1\]:\d+, 3 clients", r.stdout)


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["demo", "--frobnicate"], "unknown option '--frobnicate'"),
    (["demo", "--clients"], "option '--clients' needs a value"),
    (["demo", "--clients", "0"], "--clients expects a whole number from 1"),
    (["demo", "--clients", "12x"], "got '12x'"),
    (["demo", "--port", "70000"], "--port expects a whole number from 0 to 65535"),
    (["demo", "--host", "not-an-address"], "not an IPv4 or IPv6 address"),
    (["demo", "--backend", "nosuch"], "unknown backend 'nosuch'"),
    (["demo", "stray"], "unexpected argument 'stray'"),
    (["list", "extra"], "unexpected argument 'extra'"),
    (["run", "--profile", "linux-2.4", "corpus/scenarios/bind/conflict.sd"],
     "unknown profile 'linux-2.4'"),
    (["run", "--backend", "both", "--profile", "linux-6.1", "corpus/scenarios/bind/conflict.sd"],
     "--profile is for --backend sim"),
    (["demo", "--seed", "x"], "--seed expects a whole number"),
    (["demo", "--host", "::1", "--clients", "30000"], "need an IPv4 host"),
    ([], "usage: sockdrill"),
])
def test_bad_input_exits_2_with_one_message(sockdrill, args, message):
    r = sockdrill(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert r.stdout == ""
    if args:
        assert r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("sockdrill")
