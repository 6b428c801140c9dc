"""FitResult: the draws with everything needed to report on them without refitting."""

from __future__ import annotations

import dataclasses
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

from pexsurv.data import TrialData
from pexsurv.fitting.config import SamplerConfig

__all__ = ["FitResult", "IncompatibleResultError", "FORMAT_VERSION"]

# Bump when the saved layout changes; load() refuses other versions with a clear message.
FORMAT_VERSION = 1
_DATA_GROUP = "trial_data"


class IncompatibleResultError(ValueError):
    """A saved result that this version of pexsurv cannot rebuild faithfully."""


def _spec_registry() -> dict[str, type]:
    from pexsurv.models import RPSFT, PiecewiseExponential

    return {"PiecewiseExponential": PiecewiseExponential, "RPSFT": RPSFT}


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
    optional = {k: k for k in ("treatment_start", "switch_time", "censor_time", "strata")
                if k in frame}
    data = TrialData.from_dataframe(frame, time="time", event="event", arm="arm", id="id",
                                    reference=arms[0], covariates=json.loads(ds.attrs["covariates"]),
                                    **optional)
    return dataclasses.replace(data, arms=tuple(arms), population=ds.attrs["population"],
                               origin=ds.attrs["origin"], notes=tuple(json.loads(ds.attrs["notes"])))


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted model: draws, the spec and priors that produced them, and provenance.

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
    timings : dict
        ``compile_seconds`` and ``sampling_seconds``.
    provenance : dict
        Package versions, spec hash, data fingerprint, format version.
    """

    idata: xr.DataTree
    spec: Any
    priors: Mapping[str, Any]
    data: TrialData
    sampler: SamplerConfig
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
    def convergence(self):
        """Convergence check (computed once): see
        :func:`pexsurv.diagnostics.check_convergence`."""
        from pexsurv.diagnostics import check_convergence

        return check_convergence(self)

    def summary(self, var_names: list[str] | None = None) -> pd.DataFrame:
        """ArviZ summary (95% equal-tailed intervals) of the model's named parameters.

        R-hat and ESS are blanked (NaN) for draws not made by MCMC (a Bayesian RPSFT's psi
        grid quantiles and bootstrap hazard ratios; see their ``not_mcmc`` attribute).
        """
        import arviz as az

        names = var_names or [v for v in ("psi", "acceleration", "hr", "log_hr", "hr_period",
                                          "hr_two_stage", "log_hazard_base", "beta")
                              if v in self.posterior]
        table = az.summary(self.idata, var_names=names, ci_prob=0.95)
        not_mcmc = [v for v in names if "not_mcmc" in self.posterior[v].attrs]
        rows = [i for i in table.index if i.split("[")[0] in not_mcmc]
        blank = ["ess_bulk", "ess_tail", "r_hat"]
        table.loc[rows, blank] = np.nan
        fmt = getattr(table, "_fmt_map", None)  # ArviZ's display strings, one per cell
        for col in blank if fmt else ():
            fmt.get(col, {}).update(dict.fromkeys(rows, "n/a"))
        return table

    def __repr__(self) -> str:
        kind = "APPROXIMATE (ADVI)" if self.approximate else f"MCMC ({self.sampler.sampler})"
        return (f"FitResult({type(self.spec).__name__}, {kind}, data={self.data.population!r} "
                f"n={self.data.n}, chains={self.sampler.chains}, draws={self.sampler.draws}; "
                f"{self.convergence.headline})")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | PathLike[str]) -> Path:
        """Write the result to one netCDF file (draws, data, spec, priors, provenance).

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
            "timings": json.dumps(dict(self.timings)),
            "provenance": json.dumps(dict(self.provenance)),
        }
        tree.attrs.update(meta)
        tree.to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> FitResult:
        """Read a result written by :meth:`save`.

        Raises
        ------
        IncompatibleResultError
            When the file was written in another format version, by an unknown model
            type, or its spec no longer hashes to the stored value (the model definition
            changed since it was saved).
        """
        from pexsurv.priors import Spec

        tree = xr.open_datatree(path, engine="h5netcdf").load()
        attrs = tree.attrs
        fmt = attrs.get("pexsurv_format")
        if fmt != FORMAT_VERSION:
            raise IncompatibleResultError(
                f"{path}: saved with result format {fmt}, this pexsurv reads format "
                f"{FORMAT_VERSION}; refit with this version (or load it with the version that "
                "wrote it)"
            )
        spec_dict = json.loads(attrs["spec"])
        registry = _spec_registry()
        if spec_dict.get("model") not in registry:
            raise IncompatibleResultError(
                f"{path}: unknown model type {spec_dict.get('model')!r}; known: {sorted(registry)}")
        spec = registry[spec_dict["model"]].from_dict(spec_dict)
        if spec.spec_hash() != attrs["spec_hash"]:
            raise IncompatibleResultError(
                f"{path}: the stored spec hashes to {spec.spec_hash()}, not the saved "
                f"{attrs['spec_hash']}: the model definition changed since the fit was saved; refit"
            )
        data = _data_from_dataset(tree[_DATA_GROUP].to_dataset())
        tree = tree.copy()
        del tree[_DATA_GROUP]
        for key in list(tree.attrs):
            if key in ("pexsurv_format", "spec", "spec_hash", "priors", "sampler", "timings",
                       "provenance"):
                del tree.attrs[key]
        priors = {k: Spec.from_dict(v) for k, v in json.loads(attrs["priors"]).items()}
        sampler = SamplerConfig(**json.loads(attrs["sampler"]))
        return cls(idata=tree, spec=spec, priors=priors, data=data, sampler=sampler,
                   timings=json.loads(attrs["timings"]), provenance=json.loads(attrs["provenance"]))

