"""The trial data model: one validated, immutable gate between user tables and models.

Every model, cut-point rule and report reads a :class:`TrialData`; nothing downstream
reads a CSV or a user DataFrame. Inside, ``event == 1`` always means an event and the
experimental arm is coded 1.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from pexsurv._names import EXPERIMENTAL, REFERENCE

__all__ = ["TrialData", "TrialDataError", "name_list", "require_exact_times", "require_int",
           "require_trial_data"]

_MAX_IDS = 10
ORIGINS = ("randomization", "treatment_start")
_TIME_FIELDS = ("time", "treatment_start", "switch_time", "censor_time", "time_lower")
DATINGS = ("visit", "midpoint")


class TrialDataError(ValueError):
    """Invalid trial data: the message names the column, the offending ids and the fix."""


# --------------------------------------------------------------------------- argument checks
def require_trial_data(obj: Any, where: str) -> TrialData:
    """Return ``obj`` if it is a :class:`TrialData`, else raise a TypeError with the fix.

    Every public function that takes trial data calls this first, so that a DataFrame
    passed by mistake fails with the way to build a TrialData instead of deep inside.

    Examples
    --------
    >>> import pandas as pd
    >>> require_trial_data(pd.DataFrame({"t": [1.0]}), "equal_events()")
    Traceback (most recent call last):
    ...
    TypeError: equal_events() needs a TrialData, got a pandas DataFrame. Fix: pass TrialData.from_dataframe(df, time=..., event=..., arm=..., reference=...)
    """
    if isinstance(obj, TrialData):
        return obj
    if isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"{where} needs a TrialData, got a pandas DataFrame. Fix: pass "
            "TrialData.from_dataframe(df, time=..., event=..., arm=..., reference=...)"
        )
    raise TypeError(f"{where} needs a TrialData (see TrialData.from_dataframe), got "
                    f"{type(obj).__name__}")


def require_exact_times(data: TrialData, where: str) -> TrialData:
    """Return ``data`` if every event has one exact time, else raise naming the fix.

    Methods that need one time per event (Kaplan-Meier, log-rank, Cox, RPSFT, the
    exposure table) would otherwise silently use ``time``, the assessment that found an
    interval-censored event, on data loaded with ``time_lower``. Dating the events is an
    analysis choice, so it is left to the caller: ``data.date_events("visit")`` (the usual
    practice) or ``"midpoint"``.

    Examples
    --------
    >>> df = pd.DataFrame({"lo": [1.0, np.nan], "hi": [3.0, 2.0], "e": [1, 0], "arm": [0, 1]})
    >>> data = TrialData.from_dataframe(df, time="hi", event="e", arm="arm", time_lower="lo")
    >>> require_exact_times(data, "logrank_z()")
    Traceback (most recent call last):
    ...
    pexsurv.data.TrialDataError: column 'time_lower': logrank_z() needs exact event times, and these events are interval-censored (time is the assessment that found them) in 1 row(s), ids: 0. Fix: date them explicitly, data.date_events("visit") (at the visit; the usual practice) or data.date_events("midpoint"), or fit PiecewiseExponential, which uses the intervals
    >>> require_exact_times(data.date_events("visit"), "logrank_z()").n
    2
    """
    data = require_trial_data(data, where)
    ic = data.interval_censored
    if ic.any():
        fail_rows("time_lower", f"{where} needs exact event times, and these events are "
                  "interval-censored (time is the assessment that found them)", data.id, ic,
                  'date them explicitly, data.date_events("visit") (at the visit; the usual '
                  'practice) or data.date_events("midpoint"), or fit PiecewiseExponential, '
                  "which uses the intervals")
    return data


def require_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as a Python int: ints and NumPy integers pass; bools, floats (even 8.0)
    and strings are refused, as is a value below ``minimum``.

    Examples
    --------
    >>> require_int(np.int64(4), "k", minimum=1)
    4
    >>> require_int(4.0, "k")
    Traceback (most recent call last):
    ...
    TypeError: k must be an integer, got 4.0 (float). Fix: pass 4
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        hint = (f". Fix: pass {int(value)}" if isinstance(value, (float, np.floating))
                and float(value).is_integer() else "")
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}){hint}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def name_list(value: Any, name: str) -> list[str]:
    """A list of column names from a list or tuple; a bare string is refused (it would
    be read letter by letter).

    Examples
    --------
    >>> name_list(("age", "sex"), "covariates")
    ['age', 'sex']
    >>> name_list("age", "covariates")
    Traceback (most recent call last):
    ...
    TypeError: covariates= takes a list of names, got the string 'age'. Fix: covariates=['age']
    """
    if isinstance(value, str):
        raise TypeError(f"{name}= takes a list of names, got the string {value!r}. "
                        f"Fix: {name}=[{value!r}]")
    if isinstance(value, (bytes, pd.DataFrame, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name}= takes a list of names, got {type(value).__name__}")
    return [str(v) for v in value]


# --------------------------------------------------------------------------- column readers
def _ids_text(ids: np.ndarray, mask: np.ndarray) -> str:
    bad = ids[np.asarray(mask, dtype=bool)]
    shown = ", ".join(str(i) for i in bad[:_MAX_IDS])
    more = f" (and {len(bad) - _MAX_IDS} more)" if len(bad) > _MAX_IDS else ""
    return f"{len(bad)} row(s), ids: {shown}{more}"


def fail_rows(column: str, problem: str, ids: np.ndarray, mask: np.ndarray, fix: str) -> None:
    """Raise a :class:`TrialDataError` naming ``column``, the problem, up to ten ids of the rows
    where ``mask`` is true, and the fix (the one form of every data error in the package)."""
    raise TrialDataError(f"column '{column}': {problem} in {_ids_text(ids, mask)}. Fix: {fix}")


def _readonly(a: Any, dtype: Any = None) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.flags.writeable = False
    return a


_DURATION_FIX = ("compute durations from randomization in the analysis unit before loading, "
                 "e.g. (df['end_date'] - df['randomization_date']).dt.days / 30.4375 for "
                 "months")


def _kind_of(value: Any) -> str | None:
    """'datetime', 'timedelta' or 'bool' for such scalars in an object column, else None."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (pd.Timestamp, np.datetime64, datetime.date)):
        return "datetime"
    if isinstance(value, (pd.Timedelta, np.timedelta64, datetime.timedelta)):
        return "timedelta"
    return None


def _refuse_non_numbers(s: pd.Series, column: str, ids: np.ndarray, role: str) -> None:
    """Refuse dates, durations, complex numbers and (for times) booleans, which NumPy and
    pandas would otherwise turn into numbers silently (dates into nanoseconds)."""
    present = s.notna().to_numpy()
    kinds = (pd.Series(["bool"] * len(s)) if pd.api.types.is_bool_dtype(s) else
             pd.Series(["datetime"] * len(s)) if pd.api.types.is_datetime64_any_dtype(s) else
             pd.Series(["timedelta"] * len(s)) if pd.api.types.is_timedelta64_dtype(s) else
             pd.Series(["complex"] * len(s)) if pd.api.types.is_complex_dtype(s) else
             s.map(_kind_of) if s.dtype == object else pd.Series([None] * len(s)))
    kinds = kinds.to_numpy()
    for kind, problem, fix in (
        ("datetime", "dates instead of durations", _DURATION_FIX),
        ("timedelta", "timedelta durations (read as nanoseconds by NumPy)",
         f"convert them to numbers in the analysis unit, e.g. "
         f"df['{column}'].dt.days for days or df['{column}'].dt.days / 30.4375 for months"),
        ("complex", "complex numbers", "pass real numbers"),
    ):
        bad = present & (kinds == kind)
        if bad.any():
            if role == "covariate" and kind != "complex":
                fix += f", or declare the column categorical=['{column}']"
            fail_rows(column, problem, ids, bad, fix)
    if role == "time":
        bad = present & (kinds == "bool")
        if bad.any():
            fail_rows(column, "boolean values in a time column", ids, bad,
                  "pass follow-up times as numbers (did you swap the time and event columns?)")


_NON_NUMERIC_FIX = {
    "time": "convert the column to numbers in the analysis unit (e.g. months as floats) "
            "before loading",
    "flag": "code the column as 0/1 or bool",
}


def _numeric(df: pd.DataFrame, column: str, ids: np.ndarray, *, role: str) -> np.ndarray:
    """Column as float64 (NaN where missing), refusing values that are not plain numbers
    instead of coercing them. ``role`` ("time" or "flag") chooses the checks and the fix."""
    s = df[column]
    _refuse_non_numbers(s, column, ids, role)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    converted = pd.to_numeric(s, errors="coerce")
    bad = converted.isna().to_numpy() & s.notna().to_numpy()
    if bad.any():
        fail_rows(column, "non-numeric values", ids, bad, _NON_NUMERIC_FIX[role])
    return converted.to_numpy(dtype=float, na_value=np.nan)


def _covariate(s: pd.Series, column: str, ids: np.ndarray, *, categorical: bool) -> np.ndarray:
    """A covariate as floats (numeric) or strings (categorical).

    A column is categorical when declared (``categorical=``), when it has a pandas
    categorical dtype, or when it is text none of whose values reads as a number. Numbers
    stored as text, and text mixed into numbers, are refused: reading them as categories
    would silently turn a numeric covariate into one level per value.
    """
    if s.isna().any():
        fail_rows(column, "missing covariate values (NaN)", ids, s.isna().to_numpy(),
              "impute or remove these rows explicitly before loading")
    if categorical or isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(str).to_numpy()
    _refuse_non_numbers(s, column, ids, "covariate")
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            fail_rows(column, "infinite covariate values", ids, ~np.isfinite(values),
                  "pass finite values")
        return values
    number = pd.to_numeric(s, errors="coerce").notna().to_numpy()
    if number.all():
        fail_rows(column, "numbers stored as text", ids, number,
              f"convert them with pd.to_numeric(df['{column}']) for a numeric covariate, or "
              f"declare categorical=['{column}'] if the numbers are category codes")
    if number.any():
        fail_rows(column, "text in a column that otherwise holds numbers", ids, ~number,
              f"correct or remove these values (missing ones must be imputed explicitly), "
              f"or declare categorical=['{column}'] if the column is categorical")
    return s.astype(str).to_numpy()


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
    time_lower : numpy.ndarray or None
        Lower bound of an interval-censored event: the event happened in
        ``(time_lower, time]`` (e.g. between the last assessment without progression and
        the visit that found it); ``time_lower == time`` means exactly observed, and
        censored subjects always have ``time_lower == time``. ``None`` when every event time
        is exact (the column was not supplied). See :meth:`date_events`.
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
    time_lower: np.ndarray | None = None
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
        time_lower: str | None = None,
        strata: str | None = None,
        covariates: Sequence[str] = (),
        categorical: Sequence[str] = (),
    ) -> TrialData:
        """Validate a DataFrame and build a :class:`TrialData`.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per randomized subject. Not modified.
        time : str
            Follow-up time column (> 0, finite), a number in the unit the analysis reports
            (e.g. months). Dates and timedelta durations are refused: compute durations
            first (the message shows how).
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
            switched therapy (NaN = never): a control subject crossing over to the
            experimental therapy, or an experimental subject switching away from it (not
            before its start). ``censor_time``: potential administrative censoring time
            (finite, >= time).
        time_lower : str, optional
            Lower bound of interval-censored events (progression found at a scheduled
            assessment): an event row's event happened in ``(time_lower, time]``, with
            ``time`` the visit that found it and ``time_lower`` the last assessment
            without it (0 when there was none); ``time_lower == time`` is an exactly
            observed event. Censored rows need ``time_lower == time`` or NaN (read as
            ``time``: a censored subject is event-free up to ``time``); an event row
            needs a value in ``[0, time]``.
        strata : str, optional
            Stratification column (no missing values).
        covariates : list of str
            Covariate columns (a list, also for one name). Numeric columns are kept as
            floats; text columns with no number in them as categories. Numbers stored as
            text, or text mixed into numbers, are refused unless declared categorical.
        categorical : list of str
            Covariates to treat as categories whatever their type (e.g. ECOG coded 0/1/2,
            or codes like ``"01"``); each must also be in ``covariates``. A column with a
            pandas categorical dtype is categorical too.

        Returns
        -------
        TrialData

        Raises
        ------
        TrialDataError
            Naming the column, up to ten offending ids and the fix.
        TypeError
            When ``df`` is not a DataFrame or a list argument is a bare string.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        covariates = name_list(covariates, "covariates")
        categorical = name_list(categorical, "categorical")
        undeclared = [c for c in categorical if c not in covariates]
        if undeclared:
            raise TrialDataError(f"categorical={undeclared} are not in covariates={covariates}. "
                                 "Fix: list every categorical covariate in covariates= too")
        if (event is None) == (censored is None):
            raise TrialDataError(
                "give exactly one of event= (1 = event) or censored= (ADaM CNSR, 1 = censored)"
            )
        named = {"time": time, "event": event, "censored": censored, "arm": arm, "id": id,
                 "treatment_start": treatment_start, "switch_time": switch_time,
                 "censor_time": censor_time, "time_lower": time_lower, "strata": strata}
        for key, value in named.items():
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{key}= takes one column name (a string), got {value!r}")
        wanted = [c for c in named.values() if c is not None] + covariates
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise TrialDataError(
                f"column(s) {missing} not found in the data frame; available columns: "
                f"{list(map(str, df.columns))}. Fix: pass the right column names."
            )
        if len(df) == 0:
            raise TrialDataError("the data frame has no rows")
        df = df.loc[:, list(dict.fromkeys(wanted))].copy()  # never touch the caller's frame
        ids = df[id].to_numpy() if id is not None else np.arange(len(df))
        _check_ids(ids, id)  # first, so that every later message names valid ids

        notes: list[str] = []
        flag_col = event if event is not None else censored
        flag = _numeric(df, flag_col, ids, role="flag")
        if np.isnan(flag).any():
            fail_rows(flag_col, "missing values (NaN)", ids, np.isnan(flag),
                  "complete or remove these rows explicitly before loading; pexsurv drops "
                  "nothing")
        if not np.isin(flag, (0.0, 1.0)).all():
            fail_rows(flag_col, "values outside {0, 1}", ids, ~np.isin(flag, (0.0, 1.0)),
                  "code events as 0/1 or bool" + (" (CNSR: 1 = censored, 0 = event)"
                                                    if censored is not None else " (1 = event)"))
        if censored is not None:
            flag = 1.0 - flag
            notes.append(f"event = 1 - {censored} (ADaM CNSR flag inverted)")

        arm_values = df[arm]
        if arm_values.isna().any():
            fail_rows(arm, "missing arm (NaN)", ids, arm_values.isna().to_numpy(),
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
            same_text = [v for v in levels if str(v) == str(reference)]
            hint = (f" (the data hold {same_text[0]!r}, of type {type(same_text[0]).__name__})"
                    if same_text else "")
            raise TrialDataError(
                f"column '{arm}': reference={reference!r} is not one of the arms {levels}"
                f"{hint}. Fix: pass the control arm's value exactly as it appears in the data."
            )
        experimental = next(v for v in levels if v != reference)
        arm_code = np.where(arm_values.to_numpy() == reference, REFERENCE, EXPERIMENTAL)

        st = None
        if strata is not None:
            if df[strata].isna().any():
                fail_rows(strata, "missing stratum", ids, df[strata].isna().to_numpy(),
                      "assign every subject to a stratum (or an explicit 'unknown' level)")
            st = df[strata].astype(str).to_numpy()

        # Times are read here; their values (> 0, finite, order) are checked by the
        # constructor, the one check every TrialData passes through.
        times = {key: None if named[key] is None else _numeric(df, named[key], ids, role="time")
                 for key in _TIME_FIELDS}
        return cls(
            id=ids, event=flag, arm=arm_code, strata=st, **times,
            covariates={c: _covariate(df[c], c, ids, categorical=c in categorical)
                        for c in covariates},
            arms=(str(reference), str(experimental)),
            columns={k: v for k, v in named.items() if v is not None}, notes=tuple(notes),
        )

    @classmethod
    def from_csv(cls, path: str | PathLike[str], **columns: Any) -> TrialData:
        """Read a CSV file and validate it with :meth:`from_dataframe` (same keywords).

        The id, strata and declared categorical columns are read as text, so that codes
        keep their leading zeros (``"007"`` stays ``"007"``, not 7).

        Examples
        --------
        >>> from pexsurv import TrialData, datasets
        >>> data = TrialData.from_csv(datasets.CT041_LIKE_PATH, time="os_time",
        ...                           event="os_event", arm="arm", reference="control")
        >>> data.n
        156
        """
        as_text = [columns.get("id"), columns.get("strata"), *columns.get("categorical", ())]
        header = pd.read_csv(path, nrows=0).columns
        dtype = {c: str for c in as_text if isinstance(c, str) and c in header}
        # round_trip: pandas' default float parser can differ from the written value in the
        # last bits, and a fit from the CSV must equal the fit from the frame it came from.
        return cls.from_dataframe(pd.read_csv(path, dtype=dtype, float_precision="round_trip"),
                                  **columns)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        """Check every invariant and store read-only copies: runs for every TrialData,
        whether built by :meth:`from_dataframe`, :meth:`derive` or the constructor."""
        put = partial(object.__setattr__, self)
        col = self.columns.get
        ids = np.asarray(self.id)
        n = ids.shape[0] if ids.ndim == 1 else -1
        if n < 1:
            raise TrialDataError(f"id must be a 1-D array with at least one subject, got "
                                 f"shape {ids.shape}")
        for name in ("time", "event", "arm", *_TIME_FIELDS[1:], "strata"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != (n,):
                raise TrialDataError(f"{name} has shape {np.shape(value)}; every field needs "
                                     f"one value per subject, shape ({n},)")
        for name, value in self.covariates.items():
            if np.shape(value) != (n,):
                raise TrialDataError(f"covariate '{name}' has shape {np.shape(value)}, "
                                     f"expected ({n},)")
        _check_ids(ids, col("id", "id"))

        arrays: dict[str, np.ndarray | None] = {}
        for name in _TIME_FIELDS:
            raw = None if getattr(self, name) is None else np.asarray(getattr(self, name))
            if raw is not None and raw.dtype.kind not in "iuf":
                # Dates, durations, booleans and complex numbers would convert silently.
                raise TrialDataError(
                    f"{name} must hold real numbers, got dtype {raw.dtype}. Fix: build "
                    "TrialData with from_dataframe, whose messages say how to convert")
            arrays[name] = None if raw is None else raw.astype(float)
        t = arrays["time"]
        t_name = col("time", "time")
        if np.isnan(t).any():
            fail_rows(t_name, "missing values (NaN)", ids, np.isnan(t),
                  "complete or remove these rows explicitly before loading; pexsurv drops "
                  "nothing")
        if (t <= 0).any():
            fail_rows(t_name, "time <= 0", ids, t <= 0,
                  "follow-up times must be positive. Negative times usually mean start and "
                  "end dates swapped; a subject censored at time 0 contributes nothing (remove "
                  "the row explicitly); an event at time 0 needs a small positive time (e.g. "
                  "half a day in the analysis unit)")
        if not np.isfinite(t).all():
            fail_rows(t_name, "infinite times", ids, ~np.isfinite(t),
                  "use finite follow-up times; a subject still at risk is censored at the "
                  "last time seen")
        for name in ("treatment_start", "switch_time"):
            if arrays[name] is not None:
                _check_within_followup(col(name, name), name, arrays[name], t, ids)
        ct = arrays["censor_time"]
        if ct is not None:
            ct_name = col("censor_time", "censor_time")
            if np.isnan(ct).any():
                fail_rows(ct_name, "missing values (NaN)", ids, np.isnan(ct),
                      "the potential censoring time is needed for every subject")
            if np.isinf(ct).any():
                fail_rows(ct_name, "infinite potential censoring times", ids, np.isinf(ct),
                      "give the time from randomization to the data cut-off (finite); if "
                      "no administrative censoring applies, leave censor_time out")
            if (ct < t).any():
                fail_rows(ct_name, f"censor_time < {t_name}", ids, ct < t,
                      "the potential (administrative) censoring time cannot precede the "
                      "observed follow-up; check the data cut-off derivation")

        event = np.asarray(self.event)
        flag = np.asarray(event, dtype=float) if event.dtype.kind in "biuf" else None
        if flag is None or not np.isin(flag, (0.0, 1.0)).all():
            bad = np.ones(n, bool) if flag is None else ~np.isin(flag, (0.0, 1.0))
            fail_rows(col("event", col("censored", "event")), "event values outside {0, 1}", ids,
                  bad, "code events as 0/1 (1 = event)")
        if arrays["time_lower"] is not None:
            arrays["time_lower"] = _interval_lower(col("time_lower", "time_lower"),
                                                   arrays["time_lower"], t, flag == 1, ids)
        arm = np.asarray(self.arm)
        ok_arm = arm.dtype.kind in "biuf" and np.isin(arm.astype(float), (0.0, 1.0)).all()
        if not ok_arm:
            raise TrialDataError("arm must be coded 0 (reference) / 1 (experimental); build "
                                 "TrialData with from_dataframe to code it from labels")
        if len(set(arm.tolist())) != 2:
            raise TrialDataError(
                f"population '{self.population}' leaves fewer than two arms; nothing to "
                "compare. Fix: keep subjects of both arms"
            )
        sw = arrays["switch_time"]
        if sw is not None:
            start = (np.zeros(n) if arrays["treatment_start"] is None
                     else arrays["treatment_start"])
            early = (arm == EXPERIMENTAL) & (sw < start)  # False wherever either is NaN
            if early.any():
                fail_rows(col("switch_time", "switch_time"),
                      "experimental-arm switch away before the treatment start", ids, early,
                      "a subject cannot stop a therapy not yet started: set treatment_start to "
                      "NaN if the assigned therapy was never started, or correct the times")
        if self.strata is not None and not _is_text(np.asarray(self.strata)):
            raise TrialDataError("strata must be text labels with no missing values")
        covs: dict[str, np.ndarray] = {}
        for name, value in self.covariates.items():
            value = np.asarray(value)
            if value.dtype.kind in "biuf":
                value = value.astype(float)
                if not np.isfinite(value).all():
                    fail_rows(col(name, name), "missing or infinite covariate values", ids,
                          ~np.isfinite(value), "impute or remove these rows explicitly")
            elif not _is_text(value):
                raise TrialDataError(f"covariate '{name}' must hold numbers or text labels, "
                                     f"got dtype {value.dtype}")
            covs[name] = _readonly(value)
        if len(self.arms) != 2 or len(set(map(str, self.arms))) != 2:
            raise TrialDataError(f"arms must be two distinct labels, got {self.arms!r}")
        if self.origin not in ORIGINS:
            raise TrialDataError(f"origin must be one of {ORIGINS}, got {self.origin!r}")

        put("id", _readonly(ids))
        put("event", _readonly(flag, np.int8))
        put("arm", _readonly(arm, np.int8))
        for name, value in arrays.items():
            put(name, None if value is None else _readonly(value))
        put("strata", None if self.strata is None else _readonly(self.strata))
        put("covariates", covs)
        put("arms", tuple(map(str, self.arms)))
        put("columns", dict(self.columns))
        put("notes", tuple(self.notes))

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

    @property
    def interval_censored(self) -> np.ndarray:
        """Boolean mask of events known only to lie in ``(time_lower, time]`` with
        ``time_lower < time`` (all False without ``time_lower``)."""
        if self.time_lower is None:
            return np.zeros(self.n, dtype=bool)
        return self.time_lower < self.time

    def date_events(self, how: str = "visit") -> TrialData:
        """The data with every event given one exact time, and no ``time_lower``.

        ``how="visit"`` dates each event at the right end of its interval (the assessment
        that found it: the usual analysis of progression); ``"midpoint"`` at
        ``(time_lower + time) / 2``. Censored rows keep their times. A treatment start or
        switch after a midpoint-dated event was not observed before it and becomes NaN
        (counted in the note); without ``time_lower`` the data come back unchanged.

        Examples
        --------
        >>> import pandas as pd
        >>> from pexsurv import TrialData
        >>> df = pd.DataFrame({"lo": [2.0, 0.0, 5.0], "hi": [4.0, 2.0, 5.0],
        ...                    "e": [1, 1, 0], "arm": [0, 1, 1]})
        >>> data = TrialData.from_dataframe(df, time="hi", event="e", arm="arm",
        ...                                 time_lower="lo")
        >>> data.date_events("midpoint").time.tolist()
        [3.0, 1.0, 5.0]
        >>> data.date_events("visit").time.tolist()
        [4.0, 2.0, 5.0]
        """
        if how not in DATINGS:
            raise ValueError(f"how must be one of {DATINGS}, got {how!r}")
        if self.time_lower is None:
            return self
        ic = self.interval_censored
        time = (self.time if how == "visit"
                else np.where(ic, (self.time_lower + self.time) / 2, self.time))
        note = (f"date_events({how!r}): {int(ic.sum())} interval-censored event(s) dated at "
                + ("the visit that found them" if how == "visit" else "their interval midpoint"))
        changes: dict[str, Any] = {}
        for name in ("treatment_start", "switch_time"):
            value = getattr(self, name)
            if value is not None:
                after = value > time  # False for NaN
                if after.any():
                    changes[name] = np.where(after, np.nan, value)
                    note += f"; {name} after the dated event set to NaN in {_ids_text(self.id, after)}"
        return self.derive(np.ones(self.n, dtype=bool), time=time, time_lower=None,
                           **changes, notes=self.notes + (note,))

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
        for name in (*_TIME_FIELDS[1:], "strata"):
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
        if self.time_lower is not None:  # hashed only when present: exact data keep their keys
            h.update(b"time_lower" + self.time_lower.astype(str).tobytes())
        h.update(repr((self.arms, self.population, self.origin)).encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        n_exp = int((self.arm == EXPERIMENTAL).sum())
        return (f"TrialData(population={self.population!r}, origin={self.origin!r}, "
                f"n={self.n} [{self.arms[1]}: {n_exp}, {self.arms[0]}: {self.n - n_exp}], "
                f"events={int(self.event.sum())})")

    # ------------------------------------------------------------------ populations
    def derive(self, keep: np.ndarray, **changes: Any) -> TrialData:
        """A new TrialData with the rows ``keep`` (a boolean mask) and fields replaced by
        ``changes`` (arrays, and ``covariates`` a mapping of arrays, given for all current
        rows); the result is validated like any TrialData (both arms must remain).

        The building block of every population; record what you did in ``notes``.

        Examples
        --------
        >>> from pexsurv import datasets
        >>> data = datasets.ct041_like(endpoint="pfs")
        >>> first = data.derive(np.arange(data.n) < 100, population="first 100")
        >>> first.n, first.population
        (100, 'first 100')
        """
        keep = np.asarray(keep)
        if keep.dtype != bool or keep.shape != (self.n,):
            # An integer index array would otherwise be read as a mask of truthy positions.
            raise TypeError(f"keep must be a boolean mask of shape ({self.n},), got dtype "
                            f"{keep.dtype} and shape {keep.shape}")

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.asarray(a)[keep]

        fields = {name: take(changes.pop(name, getattr(self, name)))
                  for name in ("id", "time", "event", "arm", *_TIME_FIELDS[1:], "strata")}
        fields["covariates"] = {k: take(v) for k, v in
                                changes.pop("covariates", self.covariates).items()}
        return dataclasses.replace(self, **fields, **changes)  # validated by __post_init__

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
        # An interval-censored event whose interval holds the switch may have happened
        # before it: such a subject is known event-free only up to the interval's start.
        lower = self.time if self.time_lower is None else self.time_lower
        straddles = switched & self.interval_censored & (lower < sw)
        censor_at = np.where(straddles, lower, sw)
        at_zero = switched & (censor_at <= 0)
        time = np.where(switched, censor_at, self.time)
        event = np.where(switched, 0, self.event).astype(np.int8)
        note = f"per_protocol(): censored {int(switched.sum())} switcher(s) at switch"
        if straddles.any():
            note += (f" ({int(straddles.sum())} whose event interval holds the switch at the "
                     "interval's start)")
        if at_zero.any():
            note += f"; excluded {_ids_text(self.id, at_zero)} who switched at time 0"
            warnings.warn(note, UserWarning, stacklevel=2)
        new_sw = np.full(self.n, np.nan)
        return self.derive(~at_zero, time=time, event=event, switch_time=new_sw,
                            time_lower=(None if self.time_lower is None
                                        else np.where(switched, time, lower)), population=f"{self.population}>per_protocol",
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

        lower = shift(self.time_lower)
        if lower is not None and (keep & (lower < 0)).any():
            # The interval started before the new origin: on this clock the event is only
            # known to follow it, so the bound becomes 0 (the event is counted after start).
            note += (f"; time_lower before treatment start set to 0 in "
                     f"{_ids_text(self.id, keep & (lower < 0))}")
            lower = np.maximum(lower, 0.0)
        return self.derive(keep, time=shifted, treatment_start=np.zeros(self.n),
                            switch_time=shift(self.switch_time),
                            censor_time=shift(self.censor_time), time_lower=lower,
                            population=f"{self.population}>from_treatment_start",
                            origin="treatment_start", notes=self.notes + (note,))

    def exclude_switchers(self) -> TrialData:
        """Control subjects who crossed over dropped (a selected, prognostically different
        group, so the comparison is biased when switching depends on prognosis)."""
        self.require("switch_time", "exclude_switchers()")
        switched = (self.arm == REFERENCE) & ~np.isnan(self.switch_time)
        return self.derive(~switched, population=f"{self.population}>exclude_switchers",
                           notes=self.notes + (f"exclude_switchers(): excluded "
                                               f"{int(switched.sum())} control switcher(s)",))

    def as_treated(self) -> TrialData:
        """Ever vs never treated with the experimental therapy, from randomization: the naive
        comparison press releases quote. Switchers and infused subjects count as treated from
        time 0 (immortal time), non-infused experimental subjects as untreated (selection)."""
        on, _ = self.on_experimental_from()
        return self.derive(np.ones(self.n, dtype=bool), arm=(~np.isnan(on)).astype(np.int8),
                           arms=("never treated", "ever treated"), switch_time=None,
                           treatment_start=None, population=f"{self.population}>as_treated",
                           notes=self.notes + ("as_treated(): arm = ever received experimental "
                                               "therapy",))

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
        median time to event (Kaplan-Meier), subjects never treated and subjects switched,
        and interval-censored events (when ``time_lower`` is loaded; the Kaplan-Meier
        median then dates them at ``time``, the visit that found them, and its column is
        named ``median_time_to_event_at_visit`` to say so).

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
                # Interval-censored events are dated at the visit that found them here: the
                # column name says so rather than passing the visit off as the event time.
                ("median_time_to_event" if self.time_lower is None
                 else "median_time_to_event_at_visit"): km_median(self.time[m], self.event[m]),
            }
            if self.treatment_start is not None:
                row["not_treated"] = int(np.isnan(self.treatment_start[m]).sum())
            if self.switch_time is not None:
                row["switched"] = int((~np.isnan(self.switch_time[m])).sum())
            if self.time_lower is not None:
                row["interval_censored"] = int(self.interval_censored[m].sum())
            rows[self.arms[code]] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "arm"
        out.attrs.update(population=self.population, origin=self.origin)
        return out


def _check_ids(ids: np.ndarray, column: str | None) -> None:
    absent = pd.isna(ids)
    if absent.any():
        fail_rows(column or "id", "missing ids", np.arange(ids.size), absent, "give every row an id")
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        fail_rows(column or "id", "duplicate ids", ids, dup, "ids must be unique, one row per subject")


def _is_text(a: np.ndarray) -> bool:
    return a.dtype.kind == "U" or (a.dtype == object and all(isinstance(v, str) for v in a))


def _as_plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
        return int(v)
    return v


def _interval_lower(column: str, lower: np.ndarray, t: np.ndarray, event: np.ndarray,
                    ids: np.ndarray) -> np.ndarray:
    """Validated lower bounds of event intervals, NaN of censored rows read as ``t``.

    A censored subject is known to be event-free up to its time, so its only consistent
    lower bound is the time itself: another value is refused rather than moved.
    """
    missing = np.isnan(lower)
    if (missing & event).any():
        fail_rows(column, "missing lower bound (NaN) of an event", ids, missing & event,
              "give the last assessment without the event (0 if there was none), or "
              "time_lower = time for an exactly observed event")
    lower = np.where(missing, t, lower)
    for bad, problem, fix in (
        (np.isinf(lower), "infinite lower bounds",
         "a right-censored subject is a row with event = 0 and time_lower = time"),
        (lower < 0, "negative lower bounds",
         "times are measured from the clock origin; use 0 when no assessment preceded the "
         "event"),
        (lower > t, "lower bound after the time",
         "time_lower is the last assessment without the event and time the one that found "
         "it: check for swapped columns"),
        (~event & (lower != t), "censored rows with time_lower != time",
         "a censored subject is event-free up to its time: set time_lower = time (or NaN)"),
    ):
        if bad.any():
            fail_rows(column, problem, ids, bad, fix)
    return lower


def _check_within_followup(col: str, name: str, values: np.ndarray, t: np.ndarray,
                           ids: np.ndarray) -> None:
    what = {"treatment_start": "a treatment start", "switch_time": "a switch"}[name]
    ok = np.isnan(values)
    neg = ~ok & (values < 0)
    if neg.any():
        fail_rows(col, "negative times", ids, neg,
              "times are measured from randomization and cannot be negative; NaN means never")
    late = ~ok & (values > t)
    if late.any():
        fail_rows(col, "time after the end of follow-up", ids, late,
              f"{what} after follow-up ended was not observed: set it to NaN (never, within "
              "follow-up) or correct the follow-up time")
