"""Ctrl-C: a fit raises KeyboardInterrupt instead of returning the partial draws the samplers
hand back when they catch it; the command line stops with one line and status 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

from pexsurv import TrialData
from pexsurv.fitting import IncompleteSamplingError, compile_spec, fit
from pexsurv.models import PiecewiseExponential
from simtools import simulate_pem

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _sigint_as_at_startup():
    """SIGINT handled by Python, as in an interpreter started from a terminal.

    A command a non-interactive shell starts in the background (``pytest ... &`` in a
    script) inherits SIGINT ignored (POSIX), and Python then leaves it ignored instead of
    installing its handler; child processes inherit that through exec. Every Ctrl-C test
    here failed so run (the in-process ones: "SIGINT did not interrupt"; the children ran on,
    the demo to its end); reproduced on test_interrupt.py alone, launched with ``&``."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def data() -> TrialData:
    df = simulate_pem(1, 200, np.array([0.3, 0.2]), np.array([1.0]), -0.5)
    return TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                    reference=0)


@pytest.fixture(scope="module")
def spec() -> PiecewiseExponential:
    return PiecewiseExponential(cuts=(1.0,))


@pytest.fixture(scope="module")
def compiled(spec, data):
    return compile_spec(spec, data)


def _ctrl_c_then(partial):
    """A stand-in for a sampler call that, like nutpie, PyMC and ADVI, catches the
    KeyboardInterrupt of a Ctrl-C and returns what it has so far (``partial``)."""
    def sampler(*args, **kwargs):
        try:
            # Ctrl-C arrives while sampling. Sent to this (the main) thread: os.kill on the
            # process may be delivered to any thread of it (threads earlier tests left, such
            # as a sampler's), and then this sleep is not woken and the test waits it out.
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            time.sleep(5)                          # the SIGINT handler raises in here
        except KeyboardInterrupt:
            return partial(*args, **kwargs)
        raise AssertionError("SIGINT did not interrupt")
    return sampler


def test_ctrl_c_in_nutpie_raises(monkeypatch, spec, data, compiled):
    import nutpie

    real = nutpie.sample
    # nutpie's own answer to Ctrl-C: the trace so far (here: 5 of 100 draws per chain).
    monkeypatch.setattr(nutpie, "sample", _ctrl_c_then(
        lambda *a, **k: real(*a, **{**k, "draws": 5})))
    with pytest.raises(KeyboardInterrupt):
        fit(spec, data, draws=100, tune=100, seed=1, progress=False, compiled=compiled)
    # The SIGINT handler in force before the fit is back in place.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_pymc_sampler_raises(monkeypatch, spec, data, compiled):
    real = pm.sample
    monkeypatch.setattr(pm, "sample", _ctrl_c_then(
        lambda *a, **k: real(*a, **{**k, "draws": 5, "tune": 5, "chains": 1, "cores": 1})))
    with pytest.raises(KeyboardInterrupt):
        fit(spec, data, sampler="pymc", draws=100, tune=100, seed=1, progress=False,
            compiled=compiled)


def test_ctrl_c_wins_over_a_sampler_failing_on_its_way_out(monkeypatch, spec, data, compiled):
    import nutpie

    def fails(*args, **kwargs):
        raise RuntimeError("sampler thread died")

    monkeypatch.setattr(nutpie, "sample", _ctrl_c_then(fails))
    with pytest.raises(KeyboardInterrupt):
        fit(spec, data, draws=100, tune=100, seed=1, progress=False, compiled=compiled)


def test_a_short_trace_is_an_error_not_a_result(monkeypatch, spec, data, compiled):
    import nutpie

    real = nutpie.sample
    monkeypatch.setattr(nutpie, "sample", lambda *a, **k: real(*a, **{**k, "draws": 5}))
    with pytest.raises(IncompleteSamplingError, match=r"returned 4 chain\(s\) x 5 draws"):
        fit(spec, data, draws=100, tune=100, seed=1, progress=False, compiled=compiled)


def _start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT / "tests",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _interrupt_when_ready(proc: subprocess.Popen, marker: str, delay: float) -> tuple[str, str]:
    """Wait for ``marker`` on the child's stdout, then Ctrl-C it after ``delay`` seconds."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            break
    else:
        proc.wait()
        raise AssertionError(f"child ended before {marker!r}: {''.join(seen)} {proc.stderr.read()}")
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return "".join(seen) + out, err


def test_ctrl_c_during_a_real_nutpie_fit_raises_in_the_caller():
    proc = _start("""
        import numpy as np
        from pexsurv import TrialData
        from pexsurv.fitting import compile_spec, fit
        from pexsurv.models import PiecewiseExponential
        from simtools import simulate_pem

        df = simulate_pem(1, 200, np.array([0.3, 0.2]), np.array([1.0]), -0.5)
        data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", reference=0)
        spec = PiecewiseExponential(cuts=(1.0,))
        compiled = compile_spec(spec, data)
        print("sampling", flush=True)
        try:
            # Tuning steps are not stored: a long run without a large trace.
            r = fit(spec, data, draws=10, tune=10**8, chains=1, seed=1, progress=False,
                    compiled=compiled)
        except KeyboardInterrupt:
            print("raised KeyboardInterrupt", flush=True)
        else:
            print("returned a result", r.posterior.sizes, flush=True)
    """)
    out, err = _interrupt_when_ready(proc, "sampling", delay=2.0)
    assert "raised KeyboardInterrupt" in out, (out, err)
    assert "returned a result" not in out


def test_cli_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    from pexsurv import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_simulate", interrupted)
    assert cli.main(["simulate", "--seed", "1"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "pexsurv: interrupted\n" and captured.out == ""


def test_cli_ctrl_c_in_a_running_demo():
    exe = Path(sys.executable).parent / "pexsurv"
    proc = subprocess.Popen([exe, "demo", "--draws", "200", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    out, err = _interrupt_when_ready(proc, "demo", delay=1.0)
    assert proc.returncode == 130, (out, err)
    assert err == "pexsurv: interrupted\n", err  # one line, no traceback
    assert time.perf_counter() - t0 < 60
