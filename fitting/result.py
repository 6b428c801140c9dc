"""FitResult: the draws with everything needed to report on them without refitting, and
results files that are never lost (atomic saves) nor silently changed (checksums)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pexsurv._files import replace_atomically
from pexsurv._names import NOT_MCMC
from pexsurv.data import TrialData
from pexsurv.defaults import CI_PROB
from pexsurv.fitting.config import SamplerConfig
from pexsurv.fitting.convergence import TAIL_ESS_PROBS, ConvergenceCheck, check_convergence
from pexsurv.fitting.registry import spec_type

__all__ = ["FORMAT_VERSION", "CorruptResultError", "FitResult", "IncompatibleResultError",
           "ResultFileError", "StageRun"]

# Bump when the saved layout changes; load() refuses other versions with a clear message.
# 2: per-stage run records and checksums; RPSFT specs no longer hold sampler settings.
FORMAT_VERSION = 2
_DATA_GROUP = "trial_data"
_META = ("pexsurv_format", "spec", "spec_hash", "priors", "sampler", "runs", "timings",
         "provenance", "checksums")


class ResultFileError(ValueError):
    """A results file that cannot be read as a pexsurv result (the message names it)."""


class IncompatibleResultError(ResultFileError):
    """A saved result that this version of pexsurv cannot rebuild faithfully."""


class CorruptResultError(ResultFileError):
    """A saved result whose contents changed after it was written (checksum or data
    fingerprint mismatch)."""


@dataclass(frozen=True)
class StageRun:
    """What one stage of a fit ran, read from its output (not from the request).

    Attributes
    ----------
    stage : str
        E.g. ``"posterior"``; a Bayesian RPSFT has ``"psi"``, ``"stage 2"`` and
        ``"adjusted HR"``.
    method : str
        ``"mcmc"``, ``"advi"``, ``"grid"`` (quantiles of an exact grid posterior) or
        ``"bootstrap"`` (Bayesian bootstrap).
    fits : int
        Number of separate runs (RPSFT: one stage-2 fit per psi draw).
    chains, draws, tune : int, optional
        Per run: chains, draws kept per chain, tuning steps per chain.
    sampler : str, optional
    seed : int, optional
        The seed the stage used (RPSFT stage 2: the base seed of one seed per fit).
    detail : str
        Anything else that defines the stage (ADVI steps, grid size, weight sets).

    Examples
    --------
    >>> str(StageRun("posterior", "mcmc", chains=4, draws=500, tune=500, sampler="nutpie",
    ...              seed=1))
    'posterior: MCMC (nutpie), 4 chains x 500 draws after 500 tuning steps, seed 1'
    """

    stage: str
    method: str
    fits: int = 1
    chains: int | None = None
    draws: int | None = None
    tune: int | None = None
    sampler: str | None = None
    seed: int | None = None
    detail: str = ""

    @classmethod
    def configured(cls, stage: str, config: SamplerConfig, *, fits: int = 1) -> StageRun:
        """The run ``config`` asks for."""
        return cls(stage=stage, method=config.method, fits=fits, chains=config.chains,
                   draws=config.draws, tune=config.tune, sampler=config.sampler,
                   seed=config.seed,
                   detail=f"{config.options['n']} steps" if config.approximate else "")

    @classmethod
    def sampled(cls, stage: str, config: SamplerConfig, idata: xr.DataTree, *,
                fits: int = 1) -> StageRun:
        """The run of ``config`` that produced ``idata`` (chains and draws as returned)."""
        sizes = idata["posterior"].sizes
        return dataclasses.replace(cls.configured(stage, config, fits=fits),
                                   chains=int(sizes["chain"]), draws=int(sizes["draw"]))

    def __str__(self) -> str:
        seed = f", seed {self.seed}" if self.seed is not None else ""
        fits = f"{self.fits} fits, each " if self.fits != 1 else ""
        if self.method == "mcmc":
            what = (f"MCMC ({self.sampler}), {fits}{self.chains} chain"
                    f"{'s' * (self.chains != 1)} x {self.draws} draws after {self.tune} "
                    f"tuning steps")
        elif self.method == "advi":
            what = f"APPROXIMATE (ADVI, {self.detail}), {fits}{self.draws} draws"
        else:
            what = f"{self.method} ({self.detail}), not MCMC"
        return f"{self.stage}: {what}{seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _data_to_dataset(data: TrialData) -> xr.Dataset:
    frame = data.to_frame()
    ds = xr.Dataset({c: ("subject", frame[c].to_numpy()) for c in frame.columns if c != "id"},
                    coords={"subject": frame["id"].to_numpy()})
    ds.attrs.update(arms=json.dumps(list(data.arms)), population=data.population,
                    origin=data.origin, notes=json.dumps(list(data.notes)),
                    covariates=json.dumps(list(data.covariates)))
    return ds


def _data_from_dataset(ds: xr.Dataset) -> TrialData:
    frame = ds.to_dataframe().reset_index().rename(columns={"subject": "id"})
    arms = json.loads(ds.attrs["arms"])
    optional = {k: k for k in ("treatment_start", "switch_time", "censor_time", "strata", "time_lower")
                if k in frame}
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", id="id",
                                    reference=arms[0], covariates=json.loads(ds.attrs["covariates"]),
                                    **optional)
    return dataclasses.replace(data, arms=tuple(arms), population=ds.attrs["population"],
                               origin=ds.attrs["origin"], notes=tuple(json.loads(ds.attrs["notes"])))


def _array_digest(values: np.ndarray) -> str:
    """SHA-256 of an array's values in a canonical form, so that the dtype changes of a
    netCDF round trip (fixed vs variable-width strings, integer widths, None as NaN, None
    among strings stored as "") do not count. Booleans keep a form of their own (xarray
    reads them back as bool), so a bool array and its 0/1 integers hash differently."""
    a = np.asarray(values)
    if a.dtype.kind == "O" and all(v is None or isinstance(v, float) for v in a.ravel().tolist()):
        a = a.astype(float)  # netCDF stores missing objects (None) as NaN
    h = hashlib.sha256(repr(a.shape).encode())
    if a.dtype.kind in "OUS":
        # e.g. nutpie's divergence_message: None where no divergence, "" once saved
        h.update("\x1f".join("" if v is None else str(v) for v in a.ravel().tolist()).encode())
    else:
        canonical = {"b": np.uint8, "i": np.int64, "u": np.uint64, "f": np.float64,
                     "c": np.complex128}.get(a.dtype.kind)
        h.update(np.ascontiguousarray(a.astype(canonical) if canonical else a.view(np.int64))
                 .tobytes())
    return h.hexdigest()


def _checksums(tree: xr.DataTree, meta: Mapping[str, str]) -> dict[str, str]:
    """One SHA-256 per variable and coordinate of every group, and one over the metadata."""
    out = {}
    for node in tree.subtree:
        for name, var in node.variables.items():
            out[f"{node.path}/{name}"] = _array_digest(var.values)
    # str(): netCDF reads integer attributes back as numpy integers.
    text = json.dumps({k: str(v) for k, v in meta.items()}, sort_keys=True)
    out["<metadata>"] = hashlib.sha256(text.encode()).hexdigest()
    return out


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted model: draws, the spec and priors that produced them, what ran, provenance.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data`` and, on
        request, ``log_likelihood`` (per patient).
    spec : model specification
    priors : dict
        The resolved priors (user > data-driven > default) actually used.
    data : TrialData
        The analysed data (so reports and checks never need the source files).
    sampler : SamplerConfig
        The configuration that ran, with the seed used (drawn and recorded when the caller
        gave none: ``fit(spec, data, seed=result.sampler.seed)`` replays the run).
    runs : tuple of StageRun
        What each stage ran (method, sampler, fits, chains, draws, tuning, seed), read from
        its output.
    timings : dict
        ``compile_seconds`` and ``sampling_seconds`` (and per-stage seconds).
    provenance : dict
        Package versions, spec hash, data fingerprint, format version, whether the seed
        was drawn.
    """

    idata: xr.DataTree
    spec: Any
    priors: Mapping[str, Any]
    data: TrialData
    sampler: SamplerConfig
    runs: tuple[StageRun, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    @property
    def approximate(self) -> bool:
        """True when the draws come from a variational approximation, not MCMC."""
        return self.sampler.approximate

    @cached_property
    def convergence(self) -> ConvergenceCheck:
        """Convergence check (computed once): see
        :func:`pexsurv.fitting.convergence.check_convergence`."""
        return check_convergence(self)

    def summary(self, var_names: list[str] | None = None) -> pd.DataFrame:
        """ArviZ summary (95% equal-tailed intervals) of the model's named parameters.

        Tail ESS is taken at the 5% and 95% quantiles, as in the convergence verdict
        (:data:`~pexsurv.fitting.convergence.TAIL_ESS_PROBS`). R-hat and ESS are blanked
        (NaN) for draws not made by MCMC (a Bayesian RPSFT's psi grid quantiles and
        bootstrap hazard ratios; see their ``not_mcmc`` attribute).
        """
        import arviz as az

        names = var_names or [v for v in ("psi", "acceleration", "hr", "log_hr", "hr_period",
                                          "hr_two_stage", "log_hazard_base", "beta")
                              if v in self.posterior]
        # az.summary's tail ESS reads rcParams["stats.ci_prob"] = p as the quantiles
        # (1 - p, p): p = 0.95 gives the 5% and 95% of TAIL_ESS_PROBS.
        with az.rc_context({"stats.ci_prob": TAIL_ESS_PROBS[1]}):
            table = az.summary(self.idata, var_names=names, ci_prob=CI_PROB)
        not_mcmc = [v for v in names if NOT_MCMC in self.posterior[v].attrs]
        rows = [i for i in table.index if i.split("[")[0] in not_mcmc]
        blank = ["ess_bulk", "ess_tail", "r_hat"]
        table.loc[rows, blank] = np.nan
        fmt = getattr(table, "_fmt_map", None)  # ArviZ's display strings, one per cell
        for col in blank if fmt else ():
            fmt.get(col, {}).update(dict.fromkeys(rows, "n/a"))
        return table

    def __repr__(self) -> str:
        chains, draws = (self.idata["posterior"].sizes[d] for d in ("chain", "draw"))
        # Results built outside fit (e.g. prior draws for SBC) carry no run records.
        runs = self.runs or (StageRun.configured("configured", self.sampler),)
        ran = "; ".join(map(str, runs))
        return (f"FitResult({type(self.spec).__name__}, data={self.data.population!r} "
                f"n={self.data.n}; {ran}; posterior {chains} chain{'s' * (chains != 1)} x "
                f"{draws} draws; {self.convergence.headline})")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | PathLike[str]) -> Path:
        """Write the result to one netCDF file (draws, data, spec, priors, runs,
        provenance and a checksum of every array).

        The file is written beside ``path`` under a temporary name, flushed to disk and
        renamed over ``path``: an existing file is replaced whole or not at all.

        Examples
        --------
        >>> result.save(tmp_path / "fit.nc")  # doctest: +SKIP
        """
        path = Path(path)
        tree = self.idata.copy()
        tree[_DATA_GROUP] = xr.DataTree(_data_to_dataset(self.data))
        meta = {
            "pexsurv_format": FORMAT_VERSION,
            "spec": json.dumps(self.spec.to_dict()),
            "spec_hash": self.spec.spec_hash(),
            "priors": json.dumps({k: v.to_dict() for k, v in self.priors.items()}),
            "sampler": json.dumps(self.sampler.to_dict()),
            "runs": json.dumps([r.to_dict() for r in self.runs]),
            "timings": json.dumps(dict(self.timings)),
            "provenance": json.dumps(dict(self.provenance)),
        }
        meta["checksums"] = json.dumps(_checksums(tree, meta))
        tree.attrs.update(meta)
        replace_atomically(path, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> FitResult:
        """Read a result written by :meth:`save`, wholly into memory (the file is closed
        on return, so it can be saved over at once).

        Raises
        ------
        ResultFileError
            The file is empty, truncated or not a pexsurv result.
        IncompatibleResultError
            The file was written in another format version, by an unknown model type, or
            its spec no longer hashes to the stored value (the model definition changed
            since it was saved).
        CorruptResultError
            An array or the metadata no longer matches its stored checksum, or the stored
            trial data no longer match their stored fingerprint.
        """
        from pexsurv.priors import PriorSpec

        tree = _read(path)
        attrs = dict(tree.attrs)
        fmt = attrs.get("pexsurv_format")
        if fmt is None or _DATA_GROUP not in tree.children:
            raise ResultFileError(f"{path}: not a pexsurv result file (no pexsurv_format "
                                  f"attribute or {_DATA_GROUP!r} group); results are written "
                                  "by FitResult.save")
        if fmt != FORMAT_VERSION:
            raise IncompatibleResultError(
                f"{path}: saved with result format {fmt}, this pexsurv reads format "
                f"{FORMAT_VERSION}; refit with this version (or load it with the version that "
                "wrote it)"
            )
        missing = [key for key in _META if key not in attrs]
        if missing:
            raise CorruptResultError(f"{path}: metadata {missing} missing from the file; it was "
                                     "changed after FitResult.save wrote it")
        stored = json.loads(attrs["checksums"])
        for key in _META:
            tree.attrs.pop(key, None)
        actual = _checksums(tree, {k: attrs[k] for k in _META if k != "checksums"})
        changed = sorted(k for k in stored.keys() | actual.keys() if stored.get(k) != actual.get(k))
        if changed:
            raise CorruptResultError(
                f"{path}: contents changed after the file was written: checksum mismatch in "
                f"{changed[:10]}; do not use it (refit, or restore the original file)")
        spec_dict = json.loads(attrs["spec"])
        try:
            model_type = spec_type(spec_dict.get("model"))
        except KeyError as exc:
            raise IncompatibleResultError(f"{path}: {exc.args[0]}") from None
        spec = model_type.from_dict(spec_dict)
        if spec.spec_hash() != attrs["spec_hash"]:
            raise IncompatibleResultError(
                f"{path}: the stored spec hashes to {spec.spec_hash()}, not the saved "
                f"{attrs['spec_hash']}: the model definition changed since the fit was saved; refit"
            )
        data = _data_from_dataset(tree[_DATA_GROUP].to_dataset())
        provenance = json.loads(attrs["provenance"])
        stored_fp = provenance.get("data_fingerprint")
        if stored_fp is not None and stored_fp != data.fingerprint():
            raise CorruptResultError(
                f"{path}: the stored trial data no longer match the fingerprint recorded at "
                f"fit time ({stored_fp[:12]}... vs {data.fingerprint()[:12]}...): the draws "
                "may not belong to these data; refit")
        del tree[_DATA_GROUP]
        priors = {k: PriorSpec.from_dict(v) for k, v in json.loads(attrs["priors"]).items()}
        return cls(idata=tree, spec=spec, priors=priors, data=data,
                   sampler=SamplerConfig(**json.loads(attrs["sampler"])),
                   runs=tuple(StageRun(**r) for r in json.loads(attrs["runs"])),
                   timings=json.loads(attrs["timings"]), provenance=provenance)


def _read(path: str | PathLike[str]) -> xr.DataTree:
    """The whole file in memory, the file closed; one clear error for unreadable files."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            return opened.load()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        size = Path(path).stat().st_size
        raise ResultFileError(
            f"{path}: not a readable pexsurv results file ({size} bytes; empty, truncated or "
            f"another format): {type(exc).__name__}: {exc}") from None
