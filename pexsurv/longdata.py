"""Time-varying covariates: a validated long table of ``(id, tstart, tstop, covariates...)``
rows per patient, alongside a :class:`~pexsurv.TrialData`.

Each row says that the covariates held their values over ``[tstart, tstop)`` (the value
last measured, carried forward until the next measurement). The rows of a patient must tile
their follow-up exactly: the first starts at 0 (randomization), each starts where the
previous one stopped, and the last stops at the patient's follow-up time. Methods that need
the covariate history at a given time (inverse probability of censoring weighting,
:func:`pexsurv.models.ipcw`) rely on that, so every violation is an error naming the column,
the offending ids and the fix; nothing is dropped, moved or filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pexsurv.data import TrialData, TrialDataError, fail_rows, name_list

__all__ = ["LongData"]


def _column(df: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    """A finite numeric column of the long table, or an error naming the ids."""
    values = df[column]
    if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
        raise TrialDataError(f"column '{column}' of the long table is not numeric (dtype "
                             f"{values.dtype}). Fix: encode categories as 0/1 indicator columns "
                             "and give times as numbers in the analysis unit")
    out = values.to_numpy(dtype=float)
    bad = ~np.isfinite(out)
    if bad.any():
        fail_rows(column, "missing or infinite values", ids, bad,
              "every row needs a value (carry the last measurement forward explicitly, or "
              "drop the covariate)")
    return out


@dataclass(frozen=True, eq=False)
class LongData:
    """Time-varying covariates of the patients of one :class:`~pexsurv.TrialData`.

    Build it with :meth:`from_dataframe`, which validates the table against the trial.
    Rows are ordered by patient (in the order of the trial data) and time.

    Attributes
    ----------
    subject : numpy.ndarray
        Row -> position of its patient in the trial data (int).
    tstart, tstop : numpy.ndarray
        The interval ``[tstart, tstop)`` of each row, from randomization.
    covariates : dict of str to numpy.ndarray
        Numeric covariate values per row.
    n_subjects : int
        Number of patients of the trial data.

    Examples
    --------
    >>> import pandas as pd
    >>> from pexsurv import TrialData
    >>> trial = TrialData.from_dataframe(
    ...     pd.DataFrame({"id": ["a", "b"], "t": [2.0, 1.5], "e": [1, 0], "arm": [0, 1]}),
    ...     time="t", event="e", arm="arm", id="id")
    >>> rows = pd.DataFrame({"id": ["a", "a", "b"], "start": [0.0, 1.0, 0.0],
    ...                      "stop": [1.0, 2.0, 1.5], "marker": [0.2, 0.9, -0.1]})
    >>> long = LongData.from_dataframe(rows, trial, tstart="start", tstop="stop",
    ...                                covariates=["marker"])
    >>> long.n_rows, long.subject.tolist()
    (3, [0, 0, 1])
    """

    subject: np.ndarray
    tstart: np.ndarray
    tstop: np.ndarray
    covariates: dict[str, np.ndarray]
    n_subjects: int

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, data: TrialData, *, id: str = "id",  # noqa: A002
                       tstart: str = "tstart", tstop: str = "tstop",
                       covariates: Sequence[str] = ()) -> LongData:
        """Validate a long table against ``data`` and build the :class:`LongData`.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per patient and interval.
        data : TrialData
            The trial the rows belong to (its ``id`` and follow-up ``time``).
        id, tstart, tstop : str
            Column names of the patient id (values of ``data.id``) and of the interval
            ``[tstart, tstop)`` over which the row's covariate values hold.
        covariates : list of str
            Numeric time-varying covariate columns.

        Returns
        -------
        LongData

        Raises
        ------
        TrialDataError
            Missing or non-numeric columns, missing values, unknown ids, patients without
            rows, empty or negative intervals, a first row not at 0, gaps, overlaps, rows
            beyond a patient's follow-up, or rows that stop before it; each names the
            column, up to ten ids and the fix.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"the long table must be a pandas DataFrame, got {type(df).__name__}")
        if not isinstance(data, TrialData):
            raise TypeError(f"data must be a TrialData, got {type(data).__name__}")
        covariates = name_list(covariates, "covariates")
        missing = [c for c in (id, tstart, tstop, *covariates) if c not in df.columns]
        if missing:
            raise TrialDataError(f"the long table has no column(s) {missing}; it has "
                                 f"{list(df.columns)}. Fix: pass id=, tstart=, tstop= and "
                                 "covariates= naming its columns")
        reserved = [c for c in covariates if c in (id, tstart, tstop)]
        if reserved:
            raise TrialDataError(f"covariates {reserved} repeat the id or time columns")
        ids = df[id].to_numpy()
        # Match ids by value and text so that 7 and "7" are the same patient in both tables.
        known = {str(v): i for i, v in enumerate(np.asarray(data.id))}
        subject = np.array([known.get(str(v), -1) for v in ids], dtype=np.int64)
        unknown = subject < 0
        if unknown.any():
            fail_rows(id, "ids not in the trial data", ids, unknown,
                  "every row must belong to a patient of the TrialData (check the id column "
                  "and its type)")
        start = _column(df, tstart, ids)
        stop = _column(df, tstop, ids)
        values = {c: _column(df, c, ids) for c in covariates}
        absent = np.ones(data.n, dtype=bool)
        absent[subject] = False
        if absent.any():
            fail_rows(id, "patients of the trial data without rows in the long table",
                  np.asarray(data.id), absent, "give every patient rows covering their "
                  "follow-up from 0")
        for bad, col, problem, fix in (
                (start < 0, tstart, "negative start times", "times are measured from "
                 "randomization"),
                (stop <= start, tstop, "stop not after start (empty or reversed interval)",
                 "drop empty rows or correct the times")):
            if bad.any():
                fail_rows(col, problem, ids, bad, fix)
        order = np.lexsort((start, subject))
        subject, start, stop = subject[order], start[order], stop[order]
        ids = ids[order]
        values = {c: v[order] for c, v in values.items()}
        first = np.r_[True, subject[1:] != subject[:-1]]
        last = np.r_[subject[1:] != subject[:-1], True]
        follow_up = data.time[subject]
        previous_stop = np.r_[np.nan, stop[:-1]]
        for bad, col, problem, fix in (
                (first & (start > 0), tstart, "first row starts after randomization (gap at "
                 "the start)", "add a row from 0 with the baseline values"),
                (~first & (start > previous_stop), tstart, "gap between consecutive rows",
                 "each row must start where the previous one stopped; add the missing "
                 "interval with the value carried forward"),
                (~first & (start < previous_stop), tstart, "overlapping rows",
                 "each row must start where the previous one stopped; remove duplicates or "
                 "correct the times"),
                (stop > follow_up, tstop, "rows beyond the patient's follow-up time",
                 "cut the last row at the follow-up time and drop rows after it"),
                (last & (stop < follow_up), tstop, "rows stop before the patient's follow-up "
                 "time", "extend the last row to the follow-up time (value carried forward)")):
            if bad.any():
                fail_rows(col, problem, ids, bad, fix)
        return cls(subject=subject, tstart=start, tstop=stop, covariates=values,
                   n_subjects=data.n)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.subject.size)

    def split_at(self, times: Any) -> LongData:
        """The same history with a row boundary at ``times`` (one per patient, NaN: none).

        A row containing the time strictly inside is cut in two with the same covariate
        values (the last measurement is carried forward), so the history is unchanged.

        Examples
        --------
        >>> long = LongData(subject=np.array([0]), tstart=np.array([0.0]),
        ...                 tstop=np.array([2.0]), covariates={"x": np.array([1.0])},
        ...                 n_subjects=1)
        >>> cut = long.split_at(np.array([0.5]))
        >>> cut.tstart.tolist(), cut.tstop.tolist(), cut.covariates["x"].tolist()
        ([0.0, 0.5], [0.5, 2.0], [1.0, 1.0])
        """
        t = np.asarray(times, dtype=float)
        if t.shape != (self.n_subjects,):
            raise ValueError(f"times must hold one value per patient ({self.n_subjects}), got "
                             f"shape {t.shape}")
        at = t[self.subject]
        inside = (self.tstart < at) & (at < self.tstop)
        reps = np.where(inside, 2, 1)
        index = np.repeat(np.arange(self.n_rows), reps)
        second = np.r_[False, index[1:] == index[:-1]]  # the later piece of a cut row
        first_piece = np.r_[index[1:] == index[:-1], False]
        start = np.where(second, at[index], self.tstart[index])
        stop = np.where(first_piece, at[index], self.tstop[index])
        return LongData(subject=self.subject[index], tstart=start, tstop=stop,
                        covariates={c: v[index] for c, v in self.covariates.items()},
                        n_subjects=self.n_subjects)

    def to_frame(self, data: TrialData | None = None) -> pd.DataFrame:
        """The rows as a DataFrame (``id`` from ``data`` if given, else ``subject``)."""
        key = ({"id": np.asarray(data.id)[self.subject]} if data is not None
               else {"subject": self.subject})
        return pd.DataFrame({**key, "tstart": self.tstart, "tstop": self.tstop,
                             **self.covariates})
