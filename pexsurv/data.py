"""The trial data model: one validated, immutable gate between user tables and models.

Every model, cut-point rule and report reads a :class:`TrialData`; nothing downstream
reads a CSV or a user DataFrame. Inside, ``event == 1`` always means an event and the
experimental arm is coded 1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from pexsurv._names import EXPERIMENTAL, REFERENCE

__all__ = ["TrialData", "TrialDataError"]

_MAX_IDS = 10


class TrialDataError(ValueError):
    """Invalid trial data: the message names the column, the offending ids and the fix."""


def _ids_text(ids: np.ndarray, mask: np.ndarray) -> str:
    bad = ids[np.asarray(mask, dtype=bool)]
    shown = ", ".join(str(i) for i in bad[:_MAX_IDS])
    more = f" (and {len(bad) - _MAX_IDS} more)" if len(bad) > _MAX_IDS else ""
    return f"{len(bad)} row(s), ids: {shown}{more}"


def _fail(column: str, problem: str, ids: np.ndarray, mask: np.ndarray, fix: str) -> None:
    raise TrialDataError(f"column '{column}': {problem} in {_ids_text(ids, mask)}. Fix: {fix}")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def _numeric(df: pd.DataFrame, column: str, ids: np.ndarray, *, allow_nan: bool) -> np.ndarray:
    """Column as float64, refusing non-numeric values instead of coercing them."""
    s = df[column]
    if pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype=float)
    elif pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        converted = pd.to_numeric(s, errors="coerce")
        bad = converted.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            _fail(column, "non-numeric values", ids, bad,
                  "convert the column to numbers (e.g. days or months as floats) before loading")
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    if not allow_nan and np.isnan(values).any():
        _fail(column, "missing values (NaN)", ids, np.isnan(values),
              "complete or remove these rows explicitly before loading; pexsurv drops nothing")
    return values


@dataclass(frozen=True, eq=False, repr=False)
class TrialData:
    """A validated two-arm time-to-event data set.

    Build it with :meth:`from_dataframe` or :meth:`from_csv`; populations
    (:meth:`itt`, :meth:`treated`, :meth:`per_protocol`, :meth:`from_treatment_start`)
    return new objects. Arrays are read-only copies: the caller's frame is never touched.

    Attributes
    ----------
    id, time, event, arm : numpy.ndarray
        Subject ids, follow-up times (> 0), event indicators (1 = event) and arm codes
        (1 = experimental, 0 = reference).
    treatment_start, switch_time, censor_time : numpy.ndarray or None
        Time the assigned therapy started (NaN = never), time of crossover to the other
        arm's therapy (NaN = never), potential administrative censoring time. ``None`` when
        the column was not supplied.
    strata : numpy.ndarray or None
        Stratum label per subject (strings).
    covariates : Mapping[str, numpy.ndarray]
        Covariates by name: numeric as float, categorical as strings.
    arms : tuple of str
        ``(reference label, experimental label)`` as found in the source column.
    population, origin : str
        Which population this is (``"itt"``, ``"treated"``, ...) and where the clock starts
        (``"randomization"`` or ``"treatment_start"``).
    notes : tuple of str
        Every transformation applied since loading (e.g. CNSR inversion, exclusions).

    Examples
    --------
    >>> import pandas as pd
    >>> from pexsurv import TrialData
    >>> df = pd.DataFrame({"t": [3.0, 5.0, 2.0, 8.0], "e": [1, 0, 1, 1],
    ...                    "trt": ["ctl", "ctl", "exp", "exp"]})
    >>> data = TrialData.from_dataframe(df, time="t", event="e", arm="trt", reference="ctl")
    >>> data.n, int(data.event.sum()), data.arms
    (4, 3, ('ctl', 'exp'))
    """

    id: np.ndarray
    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray
    treatment_start: np.ndarray | None = None
    switch_time: np.ndarray | None = None
    censor_time: np.ndarray | None = None
    strata: np.ndarray | None = None
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)
    arms: tuple[str, str] = ("reference", "experimental")
    population: str = "itt"
    origin: str = "randomization"
    columns: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        time: str,
        event: str | None = None,
        arm: str,
        censored: str | None = None,
        id: str | None = None,  # noqa: A002 - the column-name argument mirrors the field
        reference: Any = None,
        treatment_start: str | None = None,
        switch_time: str | None = None,
        censor_time: str | None = None,
        strata: str | None = None,
        covariates: Sequence[str] = (),
    ) -> TrialData:
        """Validate a DataFrame and build a :class:`TrialData`.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per randomized subject. Not modified.
        time : str
            Follow-up time column (> 0), in the unit the analysis reports (e.g. months).
        event : str, optional
            Event indicator column, 0/1 or bool (1 = event). Give exactly one of ``event``
            and ``censored``.
        arm : str
            Randomized arm column with exactly two distinct values.
        censored : str, optional
            ADaM-style CNSR flag (1 = censored, 0 = event), inverted here and recorded in
            ``notes``.
        id : str, optional
            Subject id column (unique). Defaults to the row position.
        reference : optional
            Value of ``arm`` naming the control arm. Required unless the arm column is 0/1
            or bool coded (then 0/False is the reference).
        treatment_start, switch_time, censor_time : str, optional
            Time the assigned therapy started (NaN = never started), time the subject
            started the other arm's therapy (NaN = never), potential administrative
            censoring time (>= time).
        strata : str, optional
            Stratification column (no missing values).
        covariates : sequence of str
            Covariate columns: numeric ones are kept as floats, others as categories.

        Returns
        -------
        TrialData

        Raises
        ------
        TrialDataError
            Naming the column, up to ten offending ids and the fix.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if (event is None) == (censored is None):
            raise TrialDataError(
                "give exactly one of event= (1 = event) or censored= (ADaM CNSR, 1 = censored)"
            )
        named = {"time": time, "event": event, "censored": censored, "arm": arm, "id": id,
                 "treatment_start": treatment_start, "switch_time": switch_time,
                 "censor_time": censor_time, "strata": strata}
        wanted = [c for c in named.values() if c is not None] + list(covariates)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise TrialDataError(
                f"column(s) {missing} not found in the data frame; available columns: "
                f"{list(map(str, df.columns))}. Fix: pass the right column names."
            )
        if len(df) == 0:
            raise TrialDataError("the data frame has no rows")
        df = df.loc[:, list(dict.fromkeys(wanted))].copy()  # never touch the caller's frame

        if id is not None:
            if df[id].isna().any():
                pos = np.arange(len(df))
                _fail(id, "missing ids", pos, df[id].isna().to_numpy(), "give every row an id")
            ids = df[id].to_numpy()
            dup = pd.Series(ids).duplicated(keep=False).to_numpy()
            if dup.any():
                _fail(id, "duplicate ids", ids, dup, "ids must be unique, one row per subject")
        else:
            ids = np.arange(len(df))

        t = _numeric(df, time, ids, allow_nan=False)
        if (t <= 0).any():
            _fail(time, "time <= 0", ids, t <= 0,
                  "follow-up times must be positive; a subject censored at randomization "
                  "contributes no information, so remove such rows explicitly")
        if not np.isfinite(t).all():
            _fail(time, "infinite times", ids, ~np.isfinite(t), "use finite follow-up times")

        notes: list[str] = []
        flag_col = event if event is not None else censored
        flag = _numeric(df, flag_col, ids, allow_nan=False)
        if not np.isin(flag, (0.0, 1.0)).all():
            _fail(flag_col, "values outside {0, 1}", ids, ~np.isin(flag, (0.0, 1.0)),
                  "code events as 0/1 or bool" + (" (CNSR: 1 = censored, 0 = event)"
                                                    if censored is not None else " (1 = event)"))
        if censored is not None:
            flag = 1.0 - flag
            notes.append(f"event = 1 - {censored} (ADaM CNSR flag inverted)")
        ev = flag.astype(np.int8)

        arm_values = df[arm]
        if arm_values.isna().any():
            _fail(arm, "missing arm (NaN)", ids, arm_values.isna().to_numpy(),
                  "every randomized subject needs an arm")
        levels = list(pd.unique(arm_values))
        if len(levels) != 2:
            raise TrialDataError(
                f"column '{arm}': pexsurv compares exactly two arms, found {len(levels)}: "
                f"{levels}. Fix: subset the data to the two arms being compared."
            )
        if reference is None:
            if set(map(_as_plain, levels)) <= {0, 1}:
                reference = next(v for v in levels if _as_plain(v) == 0)
            else:
                raise TrialDataError(
                    f"column '{arm}': say which arm is the control with reference=, one of "
                    f"{levels}"
                )
        if reference not in levels:
            raise TrialDataError(
                f"column '{arm}': reference={reference!r} is not one of the arms {levels}. "
                "Fix: pass the control arm's value exactly as it appears in the data."
            )
        experimental = next(v for v in levels if v != reference)
        arm_code = np.where(arm_values.to_numpy() == reference, REFERENCE, EXPERIMENTAL)
        arm_code = arm_code.astype(np.int8)

        def optional_time(col: str | None) -> np.ndarray | None:
            return None if col is None else _numeric(df, col, ids, allow_nan=True)

        ts = optional_time(treatment_start)
        sw = optional_time(switch_time)
        ct = optional_time(censor_time)
        for col, values in ((treatment_start, ts), (switch_time, sw)):
            if values is None:
                continue
            _check_within_followup(col, values, t, ids)
        if ct is not None:
            if np.isnan(ct).any():
                _fail(censor_time, "missing values (NaN)", ids, np.isnan(ct),
                      "the potential censoring time is needed for every subject")
            if (ct < t).any():
                _fail(censor_time, f"censor_time < {time}", ids, ct < t,
                      "the potential (administrative) censoring time cannot precede the "
                      "observed follow-up; check the data cut-off derivation")

        st = None
        if strata is not None:
            if df[strata].isna().any():
                _fail(strata, "missing stratum", ids, df[strata].isna().to_numpy(),
                      "assign every subject to a stratum (or an explicit 'unknown' level)")
            st = df[strata].astype(str).to_numpy()

        covs: dict[str, np.ndarray] = {}
        for c in covariates:
            s = df[c]
            if s.isna().any():
                _fail(c, "missing covariate values (NaN)", ids, s.isna().to_numpy(),
                      "impute or remove these rows explicitly before loading")
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                covs[c] = _readonly(s.to_numpy(dtype=float))
            else:
                covs[c] = _readonly(s.astype(str).to_numpy())

        return cls(
            id=_readonly(ids), time=_readonly(t), event=_readonly(ev), arm=_readonly(arm_code),
            treatment_start=None if ts is None else _readonly(ts),
            switch_time=None if sw is None else _readonly(sw),
            censor_time=None if ct is None else _readonly(ct),
            strata=None if st is None else _readonly(st),
            covariates=covs, arms=(str(reference), str(experimental)),
            columns={k: v for k, v in named.items() if v is not None}, notes=tuple(notes),
        )

    @classmethod
    def from_csv(cls, path: str | PathLike[str], **columns: Any) -> TrialData:
        """Read a CSV file and validate it with :meth:`from_dataframe` (same keywords).

        Examples
        --------
        >>> from pexsurv import TrialData, datasets
        >>> data = TrialData.from_csv(datasets.CT041_LIKE_PATH, time="os_time",
        ...                           event="os_event", arm="arm", reference="control")
        >>> data.n
        156
        """
        return cls.from_dataframe(pd.read_csv(path), **columns)

    # ------------------------------------------------------------------ basic views
    @property
    def n(self) -> int:
        """Number of subjects."""
        return int(self.time.shape[0])

    @property
    def stratum_levels(self) -> tuple[str, ...]:
        """Sorted stratum labels (``("all",)`` when unstratified)."""
        return ("all",) if self.strata is None else tuple(sorted(set(self.strata)))

    def stratum_index(self) -> np.ndarray:
        """Integer stratum code per subject, indexing :attr:`stratum_levels`."""
        if self.strata is None:
            return np.zeros(self.n, dtype=np.int64)
        return np.searchsorted(np.array(self.stratum_levels), self.strata)

    def on_experimental_from(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of experimental-therapy exposure per subject (NaN start = never).

        Experimental arm: from ``treatment_start`` (0 when that column was not given) until
        ``switch_time`` if the subject switched away. Reference arm: from ``switch_time``
        (crossover) onwards.
        """
        on = np.full(self.n, np.nan)
        off = np.full(self.n, np.inf)
        exp = self.arm == EXPERIMENTAL
        start = np.zeros(self.n) if self.treatment_start is None else self.treatment_start
        on[exp] = start[exp]
        if self.switch_time is not None:
            ctl = ~exp
            on[ctl] = self.switch_time[ctl]
            switched_away = exp & ~np.isnan(self.switch_time)
            off[switched_away] = self.switch_time[switched_away]
        return on, off

    def to_frame(self) -> pd.DataFrame:
        """The data as a new DataFrame with canonical column names."""
        out = {"id": self.id, "time": self.time, "event": self.event,
               "arm": np.where(self.arm == EXPERIMENTAL, self.arms[1], self.arms[0])}
        for name in ("treatment_start", "switch_time", "censor_time", "strata"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.covariates)
        return pd.DataFrame({k: np.array(v) for k, v in out.items()})

    def fingerprint(self) -> str:
        """SHA-256 of the analysis content (values, labels, population): keys caches."""
        h = hashlib.sha256()
        for name in ("id", "time", "event", "arm", "treatment_start", "switch_time",
                     "censor_time", "strata"):
            value = getattr(self, name)
            h.update(name.encode())
            h.update(b"-" if value is None else np.asarray(value).astype(str).tobytes())
        for name in sorted(self.covariates):
            h.update(name.encode())
            h.update(np.asarray(self.covariates[name]).astype(str).tobytes())
        h.update(repr((self.arms, self.population, self.origin)).encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        n_exp = int((self.arm == EXPERIMENTAL).sum())
        return (f"TrialData(population={self.population!r}, origin={self.origin!r}, "
                f"n={self.n} [{self.arms[1]}: {n_exp}, {self.arms[0]}: {self.n - n_exp}], "
                f"events={int(self.event.sum())})")

    # ------------------------------------------------------------------ populations
    def derive(self, keep: np.ndarray, **changes: Any) -> TrialData:
        """A new TrialData with the rows ``keep`` and fields replaced by ``changes``
        (arrays given for all current rows); checks that both arms remain.

        The building block of every population; record what you did in ``notes``.

        Examples
        --------
        >>> from pexsurv import datasets
        >>> data = datasets.ct041_like(endpoint="pfs")
        >>> first = data.derive(np.arange(data.n) < 100, population="first 100")
        >>> first.n, first.population
        (100, 'first 100')
        """
        keep = np.asarray(keep, dtype=bool)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else _readonly(np.asarray(a)[keep])

        fields = {name: take(changes.pop(name, getattr(self, name)))
                  for name in ("id", "time", "event", "arm", "treatment_start",
                               "switch_time", "censor_time", "strata")}
        fields["covariates"] = {k: take(v) for k, v in self.covariates.items()}
        new = dataclasses.replace(self, **fields, **changes)
        if len(set(new.arm.tolist())) != 2:
            raise TrialDataError(
                f"population '{new.population}' leaves fewer than two arms; nothing to compare"
            )
        return new

    def itt(self) -> TrialData:
        """Intention-to-treat: everyone as randomized, clock from randomization."""
        if self.population != "itt" or self.origin != "randomization":
            raise TrialDataError(
                f"this is the '{self.population}' population; ITT must be taken from the "
                "data as loaded (keep a reference to it)"
            )
        return self

    def treated(self) -> TrialData:
        """Modified ITT: subjects who started their assigned therapy (``treatment_start``
        not NaN), followed from randomization.
        """
        self.require("treatment_start", "treated()")
        keep = ~np.isnan(self.treatment_start)
        dropped = int((~keep).sum())
        return self.derive(keep, population=f"{self.population}>treated",
                            notes=self.notes + (f"treated(): excluded {dropped} subject(s) who "
                                                "never started their assigned therapy",))

    def per_protocol(self) -> TrialData:
        """Switchers censored at their switch time (biased when switching is prognostic).

        A subject who switched at time 0 contributes no person-time and is excluded, with a
        warning and a note.
        """
        self.require("switch_time", "per_protocol()")
        sw = self.switch_time
        switched = ~np.isnan(sw)
        at_zero = switched & (sw <= 0)
        time = np.where(switched, sw, self.time)
        event = np.where(switched, 0, self.event).astype(np.int8)
        note = f"per_protocol(): censored {int(switched.sum())} switcher(s) at switch"
        if at_zero.any():
            note += f"; excluded {_ids_text(self.id, at_zero)} who switched at time 0"
            warnings.warn(note, UserWarning, stacklevel=2)
        new_sw = np.full(self.n, np.nan)
        return self.derive(~at_zero, time=time, event=event, switch_time=new_sw,
                            population=f"{self.population}>per_protocol",
                            notes=self.notes + (note,))

    def from_treatment_start(self) -> TrialData:
        """Treated subjects with the clock restarted at ``treatment_start`` (the
        single-arm-style baseline). Subjects whose follow-up ends at treatment start have
        no time at risk and are excluded, with a warning and a note.
        """
        self.require("treatment_start", "from_treatment_start()")
        if self.origin != "randomization":
            raise TrialDataError("the clock already starts at treatment start")
        ts = self.treatment_start
        treated = ~np.isnan(ts)
        shifted = self.time - np.where(treated, ts, 0.0)
        no_time = treated & (shifted <= 0)
        keep = treated & ~no_time
        note = (f"from_treatment_start(): excluded {int((~treated).sum())} never-treated "
                "subject(s); time, switch_time and censor_time measured from treatment start")
        if no_time.any():
            extra = f"; excluded {_ids_text(self.id, no_time)} with no time after treatment start"
            warnings.warn(note + extra, UserWarning, stacklevel=2)
            note += extra

        def shift(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a - np.where(treated, ts, 0.0)

        return self.derive(keep, time=shifted, treatment_start=np.zeros(self.n),
                            switch_time=shift(self.switch_time),
                            censor_time=shift(self.censor_time),
                            population=f"{self.population}>from_treatment_start",
                            origin="treatment_start", notes=self.notes + (note,))

    def require(self, name: str, what: str) -> None:
        """Raise a clear error when the optional column ``name`` was not loaded."""
        if getattr(self, name) is None:
            raise TrialDataError(
                f"{what} needs the {name} column; pass {name}='<column>' to "
                "TrialData.from_dataframe"
            )

    # ------------------------------------------------------------------ summaries
    def summary(self) -> pd.DataFrame:
        """Per-arm counts: n, events, person-time, median follow-up (reverse Kaplan-Meier),
        median time to event (Kaplan-Meier), subjects never treated and subjects switched.

        Examples
        --------
        >>> from pexsurv import datasets
        >>> data = datasets.ct041_like(endpoint="os")
        >>> list(data.summary().index)
        ['car-t', 'control']
        """
        from pexsurv.km import km_median

        rows = {}
        for code in (EXPERIMENTAL, REFERENCE):
            m = self.arm == code
            row: dict[str, Any] = {
                "n": int(m.sum()),
                "events": int(self.event[m].sum()),
                "person_time": float(self.time[m].sum()),
                "median_followup": km_median(self.time[m], 1 - self.event[m]),
                "median_time_to_event": km_median(self.time[m], self.event[m]),
            }
            if self.treatment_start is not None:
                row["not_treated"] = int(np.isnan(self.treatment_start[m]).sum())
            if self.switch_time is not None:
                row["switched"] = int((~np.isnan(self.switch_time[m])).sum())
            rows[self.arms[code]] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "arm"
        out.attrs.update(population=self.population, origin=self.origin)
        return out


def _as_plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
        return int(v)
    return v


def _check_within_followup(col: str, values: np.ndarray, t: np.ndarray, ids: np.ndarray) -> None:
    ok = np.isnan(values)
    neg = ~ok & (values < 0)
    if neg.any():
        _fail(col, "negative times", ids, neg,
              "times are measured from randomization and cannot be negative; NaN means never")
    late = ~ok & (values > t)
    if late.any():
        _fail(col, "time after the end of follow-up", ids, late,
              "an event that happened after follow-up ended is not observed: set it to NaN "
              "(never, within follow-up) or correct the follow-up time")
