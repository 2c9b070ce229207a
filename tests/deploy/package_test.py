#!/usr/bin/env python3
"""The Debian package: built by cpack from the build tree, then its file list, its control data, its
systemd unit, and the package unpacked into a temporary root and started from there.

usage: package_test.py build BUILD_DIR OUT_DIR     cpack into OUT_DIR (the fixture of the others)
       package_test.py files OUT_DIR SOURCE_DIR    the file list, conffiles, maintainer scripts, Depends
       package_test.py unit OUT_DIR                systemd-analyze verify and security on the unit
       package_test.py run OUT_DIR                 unpack, start with its own config, serve the app and a stream
       package_test.py syscalls OUT_DIR            the system calls and socket families a run uses are
                                                   all allowed by the unit's SystemCallFilter= and
                                                   RestrictAddressFamilies=
"""
import glob
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sgtest import Failure, NotifySocket, Server, check, read_sse_events, run, temp_dir  # noqa: E402

UNIT = "lib/systemd/system/streamgate.service"
CONFIG = "etc/streamgate/streamgate.toml"
WEB = "usr/share/streamgate/web"


def the_deb(out_dir):
    debs = glob.glob(os.path.join(out_dir, "*.deb"))
    check(len(debs) == 1, f"expected one .deb in {out_dir}, found {debs}")
    return debs[0]


def unpack(deb):
    root = temp_dir("sg-pkgroot-")
    run(["dpkg-deb", "-x", deb, root])
    return root


def build(build_dir, out_dir):
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    run(["cpack", "--config", os.path.join(build_dir, "CPackConfig.cmake"), "-G", "DEB", "-B", out_dir], timeout=600)
    deb = the_deb(out_dir)
    arch = run(["dpkg", "--print-architecture"]).strip()
    version = re.search(r'project\(streamgate VERSION ([0-9.]+)',
                        open(os.path.join(os.path.dirname(__file__), "../../CMakeLists.txt")).read()).group(1)
    check(os.path.basename(deb) == f"streamgate_{version}_{arch}.deb", f"package name: {os.path.basename(deb)}")
    print(f"built {deb} ({os.path.getsize(deb)} bytes)")


def files(out_dir, source_dir):
    deb = the_deb(out_dir)
    listing = run(["dpkg-deb", "-c", deb])
    paths = set()
    for line in listing.splitlines():
        name = line.split()[5]
        if not name.endswith("/"):
            paths.add(name[2:] if name.startswith("./") else name)
    print("\n".join(sorted(paths)))
    # The binaries, the configuration, the unit and the docs, and nothing of the build or test tree.
    for must in ["usr/bin/streamgate", "usr/bin/sgcat", CONFIG, UNIT, f"{WEB}/index.html",
                 "usr/share/doc/streamgate/deploy.md", "usr/share/doc/streamgate/examples/nginx/streamgate.conf"]:
        check(must in paths, f"{must} is not in the package")
    allowed = ("usr/bin/", "usr/share/streamgate/web/", "usr/share/doc/streamgate/", "etc/streamgate/",
               "lib/systemd/system/")
    strays = [p for p in paths if not p.startswith(allowed)]
    check(not strays, f"files outside the package's places: {strays}")
    check(sorted(p for p in paths if p.startswith("usr/bin/")) == ["usr/bin/sgcat", "usr/bin/streamgate"],
          "usr/bin holds streamgate and sgcat only")
    # Every file of the built web app, and only those.
    dist = os.path.join(source_dir, "web", "dist")
    want = {os.path.relpath(os.path.join(d, f), dist) for d, _, fs in os.walk(dist) for f in fs}
    have = {p[len(WEB) + 1:] for p in paths if p.startswith(WEB + "/")}
    check(want == have, f"web app differs from web/dist: missing {want - have}, extra {have - want}")
    check(any(p.endswith(".js") for p in have), "the web app has no script")

    control = temp_dir("sg-control-")
    try:
        run(["dpkg-deb", "-e", deb, control])
        conffiles = open(os.path.join(control, "conffiles")).read().split()
        check(conffiles == ["/etc/streamgate/streamgate.toml"], f"conffiles: {conffiles}")
        for script in ["postinst", "prerm", "postrm"]:
            path = os.path.join(control, script)
            check(os.access(path, os.X_OK), f"{script} is missing or not executable")
            run(["sh", "-n", path])
    finally:
        shutil.rmtree(control)
    depends = run(["dpkg-deb", "-f", deb, "Depends"])
    for lib in ["libsystemd0", "libssl3", "libsqlite3-0", "libpq5", "libhiredis0.14"]:
        check(lib in depends, f"Depends lacks {lib}: {depends}")
    # Stripped: no debug sections in the installed binaries.
    root = unpack(deb)
    try:
        for b in ["streamgate", "sgcat"]:
            sections = run(["readelf", "-S", os.path.join(root, "usr/bin", b)])
            check(".debug_info" not in sections, f"{b} is not stripped")
    finally:
        shutil.rmtree(root)
    print(f"Depends: {depends.strip()}")


def unit(out_dir):
    root = unpack(the_deb(out_dir))
    try:
        text = open(os.path.join(root, UNIT)).read()
        keys = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys.setdefault(k.strip(), []).append(v.strip())
        want = {"Type": "notify", "Restart": "on-failure", "StateDirectory": "streamgate", "DynamicUser": "yes",
                "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                "ExecReload": "/bin/kill -HUP $MAINPID"}
        for k, v in want.items():
            check(keys.get(k) == [v], f"unit: {k}={keys.get(k)}, expected {v}")
        check(int(keys["LimitNOFILE"][0]) >= 65536, "LimitNOFILE is not high")
        check("WatchdogSec" in keys, "unit has no WatchdogSec")
        # The unit starts what the package installs, with the configuration the package installs.
        exec_start = keys["ExecStart"][0].split()
        check(exec_start == ["/usr/bin/streamgate", "--config", "/" + CONFIG], f"ExecStart: {exec_start}")
        check(os.access(os.path.join(root, exec_start[0].lstrip("/")), os.X_OK), "ExecStart's binary is not packaged")

        # verify checks the executables on this machine's paths: point ExecStart at the unpacked binary
        # (the one change), then every complaint — unknown keys included — fails the test.
        check_dir = temp_dir("sg-unit-")
        try:
            checked = text.replace("ExecStart=/usr/bin/streamgate", f"ExecStart={root}/usr/bin/streamgate")
            check(checked.count(f"ExecStart={root}") == 1, "ExecStart not rewritten")
            path = os.path.join(check_dir, "streamgate.service")
            open(path, "w").write(checked)
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True,
                               timeout=60)
            print(f"systemd-analyze verify: exit {r.returncode} {r.stdout}{r.stderr}")
            check(r.returncode == 0 and not (r.stdout + r.stderr).strip(), "systemd-analyze verify complained")
        finally:
            shutil.rmtree(check_dir)

        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={root}", os.path.join(root, UNIT)],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for streamgate.service: ([0-9.]+) (\w+)", r.stdout)
        check(m, f"no exposure level: {r.stdout[-500:]} {r.stderr[-500:]}")
        exposure = float(m.group(1))
        print(f"systemd-analyze security: exposure {exposure} {m.group(2)}")
        print("\n".join(l for l in r.stdout.splitlines() if l.startswith("✗")))
        # 0 = fully sandboxed, 10 = none; systemd calls below 2 "OK". A network server must keep AF_INET.
        check(exposure <= 2.0, f"exposure {exposure} is above 2.0")
    finally:
        shutil.rmtree(root)


def own_config(root, work):
    """The packaged configuration with its paths moved into the unpacked root; returns its path."""
    config = open(os.path.join(root, CONFIG)).read()
    # The packaged defaults, each moved into the unpacked root; each must be there exactly once.
    moves = [('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"'),
             ('data_dir = "/var/lib/streamgate"', f'data_dir = "{work}/state"'),
             (f'web_root = "/{WEB}"', f'web_root = "{root}/{WEB}"')]
    for old, new in moves:
        check(config.count(old) == 1, f"the packaged config does not say {old}")
        config = config.replace(old, new)
    path = os.path.join(work, "streamgate.toml")
    open(path, "w").write(config)
    os.makedirs(os.path.join(work, "state"))
    return path


def server_env(notify):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGATE_")}
    env.update(NOTIFY_SOCKET=notify.path, STREAMGATE_DEMO_TTFT_MS="20", STREAMGATE_DEMO_TOKENS_PER_SECOND="500")
    return env


def sse_stream(port, text):
    """One stream over SSE; returns its chunks after checking they add up to fullContent."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/v1/streams", json.dumps({"projectId": "pkg", "userInput": text}),
              {"Accept": "text/event-stream", "Content-Type": "application/json"})
    r = c.getresponse()
    check(r.status == 200, f"POST /v1/streams answered {r.status}")
    events = read_sse_events(r, "stream_complete")
    c.close()
    chunks = [e for t, e in events if t == "stream_chunk"]
    check(chunks and events[-1][1]["fullContent"] == "".join(e["content"] for e in chunks),
          "the stream's chunks do not add up to its fullContent")
    return chunks


def run_unpacked(out_dir):
    """The package alone is enough: its binary, its web app and its config (paths moved into the root)."""
    root = unpack(the_deb(out_dir))
    work = temp_dir("sg-pkgrun-")
    server = None
    notify = NotifySocket(work)
    try:
        config_path = own_config(root, work)
        env = server_env(notify)
        env["WATCHDOG_USEC"] = "400000"
        server = Server([os.path.join(root, "usr/bin/streamgate"), "--config", config_path], env=env, cwd=work)
        ready = notify.wait_for("READY=1")
        print(f"notify: {ready}")
        check(any(l.startswith("STATUS=listening on 127.0.0.1:") for l in ready), f"no STATUS: {ready}")
        notify.wait_for("WATCHDOG=1")
        notify.wait_for("WATCHDOG=1")  # a second one: the timer re-arms
        listening = server.wait_log(lambda o: o.get("msg") == "listening")
        check(listening.get("dataDir") == f"{work}/state", f"dataDir: {listening}")

        def get(path):
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status, body

        status, body = get("/")
        check(status == 200, f"GET / answered {status}")
        check(body == open(os.path.join(root, WEB, "index.html"), "rb").read(), "/ is not the packaged index.html")
        assets = re.findall(rb'(?:src|href)="(/assets/[^"]+)"', body)
        check(assets, "index.html names no assets")
        for a in assets:
            status, content = get(a.decode())
            check(status == 200 and content == open(os.path.join(root, WEB, a.decode().lstrip("/")), "rb").read(),
                  f"{a} is not served from the package")

        chunks = sse_stream(server.port, "a packaged answer")

        # And one over WebSocket with the packaged sgcat.
        out = run([os.path.join(root, "usr/bin/sgcat"), f"ws://127.0.0.1:{server.port}/ws", "--ask", "from sgcat"],
                  timeout=30)
        check("title" in out.lower(), f"sgcat printed no answer: {out[:300]}")

        # SIGHUP: RELOADING=1 then READY=1; SIGTERM: STOPPING=1 and a clean exit.
        server.proc.send_signal(signal.SIGHUP)
        reload = notify.wait_for("RELOADING=1")
        check(any(l.startswith("MONOTONIC_USEC=") for l in reload), f"RELOADING=1 without MONOTONIC_USEC: {reload}")
        notify.wait_for("READY=1")
        server.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        code = server.stop()
        check(code == 0, f"exit code {code}")
        print(f"served / ({len(body)} bytes), {len(assets)} assets, a stream of {len(chunks)} chunks, sgcat; "
              "READY, WATCHDOG, RELOADING, STOPPING seen")
    finally:
        if server:
            server.kill()
        notify.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def syscall_set(spec):
    """The system calls of a SystemCallFilter= value's names and @groups."""
    out = set()
    for name in spec.split():
        if name.startswith("@"):
            listing = run(["systemd-analyze", "syscall-filter", name]).splitlines()[1:]
            for line in listing:
                line = line.strip()
                if line and not line.startswith("#"):
                    out |= syscall_set(line) if line.startswith("@") else {line}
        else:
            out.add(name)
    return out


def syscalls(out_dir):
    """A run under strace (web app, SSE, WebSocket, metrics, reload, drain) uses only what the unit allows."""
    root = unpack(the_deb(out_dir))
    work = temp_dir("sg-pkgsys-")
    server = None
    notify = NotifySocket(work)
    try:
        # As systemd applies them: the first SystemCallFilter= (an allow list here) sets the default,
        # then each later line in order adds its calls to the list or, with ~, takes them out.
        allowed, denied, families = None, False, None
        for line in open(os.path.join(root, UNIT)).read().splitlines():
            if line.startswith("SystemCallFilter=~"):
                check(allowed is not None, "the unit's first SystemCallFilter= is a deny list; this test reads allow lists")
                allowed -= syscall_set(line.split("~", 1)[1])
                denied = True
            elif line.startswith("SystemCallFilter="):
                allowed = (allowed or set()) | syscall_set(line.split("=", 1)[1])
            elif line.startswith("RestrictAddressFamilies="):
                families = set(line.split("=", 1)[1].split())
        check(allowed and denied and families, "the unit has no SystemCallFilter= or RestrictAddressFamilies=")

        trace = os.path.join(work, "trace")
        server = Server(["strace", "-f", "-qq", "-o", trace, os.path.join(root, "usr/bin/streamgate"),
                         "--config", own_config(root, work)], env=server_env(notify), cwd=work)
        notify.wait_for("READY=1")
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for path in ["/", "/metrics", "/readyz"]:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            check(r.status == 200, f"GET {path} answered {r.status}")
        c.close()
        sse_stream(server.port, "traced")
        run([os.path.join(root, "usr/bin/sgcat"), f"ws://127.0.0.1:{server.port}/ws", "--ask", "traced"], timeout=30)
        # Signals go to streamgate itself, strace's child.
        tracee = int(open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read().split()[0])
        os.kill(tracee, signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        os.kill(tracee, signal.SIGTERM)
        check(server.stop() == 0, "streamgate did not exit 0 under strace")

        used, used_families = set(), set()
        for line in open(trace):
            m = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
            if m:
                used.add(m.group(1))
            f = re.match(r"\d+\s+socket\((AF_[A-Z0-9]+)", line)
            if f:
                used_families.add(f.group(1))
        # The filter is in place from execve on, so every traced call counts. SQLite hands its files
        # to the database's owner (fchown) only when it runs as root, which the unit never does.
        outside = used - allowed - ({"fchown"} if os.geteuid() == 0 else set())
        print(f"{len(used)} system calls used; socket families {sorted(used_families)}")
        check(not outside, f"system calls the unit's SystemCallFilter= refuses: {sorted(outside)}")
        check(used_families <= families, f"socket families outside RestrictAddressFamilies=: {used_families - families}")
    finally:
        if server:
            server.kill()
        notify.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        {"build": build, "files": files, "unit": unit, "run": run_unpacked, "syscalls": syscalls}[cmd](*args)
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
