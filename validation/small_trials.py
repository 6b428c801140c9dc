"""Do the default priors move the hazard ratio in small trials? (issue 10, section 1)

Usage::

    .venv/bin/python validation/small_trials.py                      # -> validation/small_trials.md
    .venv/bin/python validation/small_trials.py --trials 6 --hr03-trials 3 --out /tmp/smoke.md

Design (fixed seeds; trial i uses data seed ``seed + i``):

* Data: ``--trials`` (50) two-arm trials of 40-60 patients (uniform), 1:1, exponential event
  times with control hazard 0.1 per month and a true log HR drawn uniformly in
  (-1.5, 1.5), censoring uniform on (6, 24) months. One interval per distinct event time:
  cut points halfway between consecutive distinct event times, so each interval holds
  the events of one time (the design of the BUGS *Leuk* example).
* Reference: the maximum-likelihood log HR of the same piecewise-exponential model,
  computed here independently of the package (events and person-time per interval x arm
  with NumPy; the baseline profiled out in closed form, alpha_k = log(d_k / (E_0k + e^g
  E_1k)); the profile log-likelihood maximised by ``scipy.optimize.minimize_scalar``).
* Fits (4 chains x 1000 draws after 1000 tuning, nutpie), posterior median and sd of
  ``log_hr``. One model is compiled once and reused through its ``pm.Data`` inputs for
  every trial and prior: each trial's cuts are padded to ``PADDED_INTERVALS`` intervals
  with cut points beyond its last follow-up time. Those intervals hold no person-time, so
  they add nothing to the likelihood and leave the log HR's posterior unchanged (their
  baseline draws are prior draws). Priors:

  - ``old default``: baseline ``IndependentNormal(pooled crude log rate, 2)`` (the default
    before issue 10) with the vague log-HR prior ``Normal(0, 10)``;
  - ``reference-centred, sd 2`` and ``sd 3``: the new centre with narrower scales, to show
    the choice of sd 5;
  - ``default baseline``: the package default (reference arm's crude log rate, sd 5) with
    ``Normal(0, 10)`` on the log HR, which isolates the baseline prior;
  - ``vague``: ``PiecewiseExponential(priors="vague")``, every parameter flat-like;
  - ``full default``: every prior at its default (log HR ``Normal(0, 1)``).

  Metric: z = (posterior median - MLE) / posterior sd; the mean of |z| and of z over trials
  (with its MCSE). Targets: default baseline mean |z| < 0.35, vague < 0.15.
* Shrinkage of the weakly informative log-HR prior by design: ``--hr03-trials`` (20) trials
  as above with a true HR of 0.3, full default vs vague: posterior median vs MLE.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from pexsurv import TrialData
from pexsurv.fitting import SamplerConfig, compile_spec
from pexsurv.models import PiecewiseExponential
from pexsurv.priors import IndependentNormal, vague
from pexsurv.provenance import machine, study_parser

HERE = Path(__file__).resolve().parent
CONTROL_RATE = 0.1
# More intervals than any trial of 60 patients has distinct event times (<= 60).
PADDED_INTERVALS = 61


def simulate(seed: int, log_hr: float | None = None) -> tuple[pd.DataFrame, float]:
    """One small exponential trial; ``log_hr`` drawn in (-1.5, 1.5) unless given."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 61))
    arm = rng.permutation(np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)])
    true = rng.uniform(-1.5, 1.5) if log_hr is None else log_hr
    t = rng.exponential(1.0 / (CONTROL_RATE * np.exp(true * arm)))
    c = rng.uniform(6.0, 24.0, n)
    df = pd.DataFrame({"id": np.arange(n), "arm": arm, "time": np.minimum(t, c),
                       "event": (t <= c).astype(int)})
    return df, true


def cuts_per_event_time(df: pd.DataFrame) -> tuple[float, ...]:
    u = np.unique(df["time"][df["event"] == 1])
    return tuple(0.5 * (u[:-1] + u[1:]))


def padded(df: pd.DataFrame, cuts: tuple[float, ...]) -> tuple[float, ...]:
    """``cuts`` extended to PADDED_INTERVALS intervals beyond the last follow-up time."""
    end = float(df["time"].max())
    extra = PADDED_INTERVALS - 1 - len(cuts)
    if extra < 0:
        raise ValueError(f"{len(cuts) + 1} intervals exceed PADDED_INTERVALS={PADDED_INTERVALS}")
    return tuple(cuts) + tuple(end + 1.0 + np.arange(extra))


def pem_mle(df: pd.DataFrame, cuts: tuple[float, ...]) -> float:
    """Maximum-likelihood log HR of the PH piecewise-exponential model, from scratch."""
    edges = np.r_[0.0, cuts, np.inf]
    t, e, a = df["time"].to_numpy(), df["event"].to_numpy(), df["arm"].to_numpy()
    person_time = np.clip(np.minimum(t[:, None], edges[1:]) - edges[:-1], 0.0, None)
    k = np.searchsorted(edges, t, side="left") - 1  # interval (c[k-1], c[k]] of each time
    d = np.zeros((2, edges.size - 1))
    expo = np.zeros_like(d)
    for g in (0, 1):
        np.add.at(d[g], k[(a == g) & (e == 1)], 1.0)
        expo[g] = person_time[a == g].sum(axis=0)

    def neg_profile(g: float) -> float:
        return -(d[1].sum() * g - np.sum((d[0] + d[1]) * np.log(expo[0] + np.exp(g) * expo[1])))

    return float(optimize.minimize_scalar(neg_profile, bounds=(-10, 10), method="bounded").x)


def _baseline(centre: str, sigma: float) -> Callable[[pd.DataFrame], dict]:
    def priors(df: pd.DataFrame) -> dict:
        rows = df if centre == "pooled" else df[df["arm"] == 0]
        mu = float(np.log(rows["event"].sum() / rows["time"].sum()))
        return {"log_hazard_base": IndependentNormal(mu, sigma), "log_hr": vague()}
    return priors


# Name -> priors for a trial (a dict, or "vague"); every one builds the same graph, so one
# compiled model per interval count serves all of them.
CONFIGS: dict[str, Callable[[pd.DataFrame], dict | str]] = {
    "old default (pooled, sd 2)": _baseline("pooled", 2.0),
    "reference-centred, sd 2": _baseline("reference", 2.0),
    "reference-centred, sd 3": _baseline("reference", 3.0),
    "default baseline (reference, sd 5)": lambda df: {"log_hr": vague()},
    "vague preset": lambda df: "vague",
    "full default (log HR Normal(0, 1))": lambda df: {},
}


class Fitter:
    """Compile once per number of intervals; set data and priors, sample."""


    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self.compiled: dict[int, object] = {}

    def __call__(self, df: pd.DataFrame, cuts: tuple[float, ...], priors) -> tuple[float, float, int]:
        data = TrialData.from_dataframe(df, time="time", event="event", arm="arm", id="id",
                                        reference=0)
        spec = PiecewiseExponential(cuts=cuts, priors=priors)
        k = len(cuts)
        if k not in self.compiled:
            self.compiled[k] = compile_spec(spec, data, self.config)
        compiled = self.compiled[k]
        compiled.set_data(spec.data_values(data))
        idata, _ = compiled.sample(self.config)
        draws = idata["posterior"]["log_hr"].values.ravel()
        return (float(np.median(draws)), float(draws.std()),
                int(idata["sample_stats"]["diverging"].values.sum()))


def run(args: argparse.Namespace) -> str:
    config = SamplerConfig(draws=1000, tune=1000, chains=4, seed=args.seed, progress=False)
    fitter = Fitter(config)
    t0 = time.perf_counter()
    rows = []
    for i in range(args.trials):
        df, true = simulate(args.seed + i)
        cuts = cuts_per_event_time(df)
        mle = pem_mle(df, cuts)
        for name, make in CONFIGS.items():
            median, sd, div = fitter(df, padded(df, cuts), make(df))
            rows.append({"trial": i, "n": len(df), "events": int(df["event"].sum()),
                         "intervals": len(cuts) + 1, "true": true, "mle": mle, "prior": name,
                         "median": median, "sd": sd, "z": (median - mle) / sd, "divergences": div})
        print(f"trial {i}: n={len(df)} K={len(cuts) + 1} mle={mle:+.2f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    main = pd.DataFrame(rows)

    rows = []
    for i in range(args.hr03_trials):
        df, true = simulate(args.seed + 10_000 + i, log_hr=float(np.log(0.3)))
        cuts = cuts_per_event_time(df)
        mle = pem_mle(df, cuts)
        for name in ("full default (log HR Normal(0, 1))", "vague preset"):
            median, sd, div = fitter(df, padded(df, cuts), CONFIGS[name](df))
            rows.append({"trial": i, "events": int(df["event"].sum()), "prior": name, "mle": mle,
                         "median": median, "sd": sd, "z": (median - mle) / sd, "divergences": div})
    hr03 = pd.DataFrame(rows)
    seconds = time.perf_counter() - t0
    return report(args, main, hr03, seconds, len(fitter.compiled))


def _markdown(table: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, not a dependency)."""
    head = ["prior", *table.columns]
    body = [[str(i), *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)]
            for i, row in zip(table.index, table.itertuples(index=False))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *body])


def _summary(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    g = df.groupby("prior", sort=False)
    out = pd.DataFrame({
        "trials": g["z"].size(),
        "mean abs(z)": g["z"].apply(lambda z: z.abs().mean()),
        "MCSE": g["z"].apply(lambda z: z.abs().std() / np.sqrt(len(z))),
        "mean z": g["z"].mean(),
        "mean median - MLE": g.apply(lambda x: (x["median"] - x["mle"]).mean(), include_groups=False),
        "mean posterior sd": g["sd"].mean(),
        "divergences": g["divergences"].sum(),
    })
    return out.loc[[o for o in order if o in out.index]]


def report(args, main: pd.DataFrame, hr03: pd.DataFrame, seconds: float, n_compiled: int) -> str:
    table = _summary(main, list(CONFIGS))
    hr_table = _summary(hr03, list(CONFIGS))
    base = table.loc["default baseline (reference, sd 5)", "mean abs(z)"]
    vag = table.loc["vague preset", "mean abs(z)"]
    verdict = (f"default baseline {base:.3f} (target < 0.35): {'PASS' if base < 0.35 else 'FAIL'}; "
               f"vague {vag:.3f} (target < 0.15): {'PASS' if vag < 0.15 else 'FAIL'}")
    trial_info = main.drop_duplicates("trial")
    lines = [
        "# Default priors in small trials (issue 10, section 1)",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by",
        f"`{shlex.join([sys.executable.split('/')[-1], *sys.argv])}` "
        f"(run from the repository root as `.venv/bin/python validation/small_trials.py`) in "
        f"{seconds / 60:.1f} min; {machine()}; {n_compiled} compiled model(s), the cuts padded to {PADDED_INTERVALS} intervals.",
        "",
        "Design: see the docstring of `validation/small_trials.py`. "
        f"{args.trials} trials of {trial_info['n'].min()}-{trial_info['n'].max()} patients "
        f"({trial_info['events'].min()}-{trial_info['events'].max()} events, "
        f"{trial_info['intervals'].min()}-{trial_info['intervals'].max()} intervals: one per "
        "distinct event time), true log HR uniform in (-1.5, 1.5); z = (posterior median of "
        "log HR - independent PEM MLE) / posterior sd.",
        "",
        f"**Verdict: {verdict}.**",
        "",
        _markdown(table),
        "",
        "Reading: the old default's centre, the crude rate pooled over both arms, lies about",
        "half the log HR away from the reference arm's rate, and sd 2 (worth 1/4 event per",
        "interval) lets it pull one-event intervals: the log HR moves towards 0 (the sign of",
        "mean z follows the sign of the effect, so mean z understates it). Centring on the",
        "reference arm removes that pull; what remains is a small shift of the same sign for",
        "every effect (a proper prior on the reference arm's log hazards, none on the",
        "experimental arm's), shrinking with the sd: sd 5 (1/25 event) is the default.",
        "",
        "## Shrinkage of a large effect by the default log-HR prior (by design)",
        "",
        f"{args.hr03_trials} trials as above with true HR 0.3 (log -1.20). The default "
        "`Normal(0, 1)` on the log HR is worth about 4 events; against the ~25-40 events of",
        "these trials it pulls a large effect towards 0 on purpose (weakly informative: it rules",
        "out implausibly large effects estimated from few events). Pass `priors=\"vague\"` or",
        "`{\"log_hr\": vague()}` for the likelihood's answer.",
        "",
        _markdown(hr_table),
        "",
        "HR scale (mean over trials): MLE HR "
        f"{np.exp(hr03.drop_duplicates('trial')['mle']).mean():.3f}, full-default posterior median HR "
        f"{np.exp(hr03[hr03['prior'].str.startswith('full')]['median']).mean():.3f}, vague "
        f"{np.exp(hr03[hr03['prior'] == 'vague preset']['median']).mean():.3f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = study_parser(__doc__, trials=50, seed=20261129, report=HERE / "small_trials")
    parser.add_argument("--hr03-trials", type=int, default=20)
    args = parser.parse_args()
    with warnings.catch_warnings():
        # Sampler chatter only; divergences are counted in the report.
        warnings.simplefilter("ignore")
        text = run(args)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
