"""A warm pytest for mutation runs: import the heavy libraries once, fork a child per mutant.

Each cosmic-ray mutant costs one pytest run, and most of a run is importing pandas, scipy,
ArviZ or PyMC (5-30 s per run on the shared machine). The server imports the libraries given
with ``--preload`` once; each request forks a child that runs ``pytest.main(args)`` and exits.
The child starts from the server's memory, so the module under test must NOT be preloaded
(nor anything importing it): the child imports it fresh from the mutated file.

Usage (benchmarks/mutation.sh does this when ``PRELOAD`` is set)::

    python benchmarks/mutation_forkserver.py serve SOCKET --preload pandas scipy.stats
    python benchmarks/mutation_forkserver.py run SOCKET -x -q tests/test_x.py  # exit code = pytest's

Stdlib only in the client, so a request costs a bare Python start.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import time

# Seconds per run: the TIMEOUT setting of mutation.sh (cosmic-ray's own timeout), 120 by default.
TIMEOUT = int(os.environ.get("TIMEOUT", "120"))


def serve(path: str, preload: list[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    import pytest

    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    print(f"serving on {path} with {preload}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            args = json.loads(conn.makefile("rb").readline())
            start = time.monotonic()
            pid = os.fork()
            if pid == 0:  # child: a fresh test session on the current files
                server.close()
                signal.alarm(TIMEOUT)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os._exit(int(pytest.main(args)))
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            # A negative code is a signal (the alarm of a hung child): worth a look in the log.
            print(f"run: exit {code} after {time.monotonic() - start:.1f} s", flush=True)
            try:
                conn.sendall(f"{code}\n".encode())
            except BrokenPipeError:
                # cosmic-ray timed the client out and closed it: keep serving, or every later
                # mutant would fail to connect and be counted as killed
                print("run: client gone before the result was sent", flush=True)


def run(path: str, args: list[str]) -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall(json.dumps(args).encode() + b"\n")
    code = int(client.makefile("rb").readline())
    return code if code >= 0 else 1  # killed by a signal (timeout): a failed run


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    if command == "serve":
        serve(path, rest[1:] if rest[:1] == ["--preload"] else [])
    else:
        sys.exit(run(path, rest))
