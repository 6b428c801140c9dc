"""Numbers shown to the precision their Monte Carlo error supports.

Two kinds of Monte Carlo summary, one rule each:

- **posterior summaries** (a median, an interval bound or a probability computed from MCMC
  draws) are rounded to the decimal place of the *second* significant digit of their Monte
  Carlo standard error (MCSE), the rule of the hazard-ratio report
  (:data:`pexsurv.workflows.report.ROUNDING_RULE`): ``digit=2``;
- **simulation summaries** (power, type I error, bias or coverage over simulated trials)
  are shown as ``value (MCSE)``, the value rounded to the decimal place of the *first*
  significant digit of its MCSE and the MCSE to one significant digit: ``digit=1``. A
  reader then sees both the estimate and how far to trust it.

Counts and data quantities (events, exposure, patients) are not Monte Carlo: leave them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["MAX_DECIMALS", "format_interval", "format_to_mcse", "mcse_decimals", "with_mcse"]

MAX_DECIMALS = 6
"""Decimals kept when the Monte Carlo standard error is zero or undefined (identical
draws)."""

MISSING = "–"
"""How a missing value (NaN) is shown."""


def mcse_decimals(mcse: float, digit: int = 2) -> int:
    """Decimals a Monte Carlo summary is rounded to, given its Monte Carlo standard error.

    Parameters
    ----------
    mcse : float
        Monte Carlo standard error of the summary.
    digit : int
        Which significant digit of the MCSE the summary is rounded at: 2 (posterior
        summaries, the report's rule) or 1 (simulation summaries shown with their MCSE).

    Returns
    -------
    int
        ``digit - 1 - floor(log10(mcse))``, at most :data:`MAX_DECIMALS` (negative for
        an MCSE of 10 or more: round to tens); :data:`MAX_DECIMALS` when the MCSE is zero
        or not finite.

    Raises
    ------
    ValueError
        A negative MCSE, or ``digit`` below 1.

    Examples
    --------
    >>> mcse_decimals(0.012), mcse_decimals(0.3), mcse_decimals(4.0), mcse_decimals(0.0)
    (3, 2, 1, 6)
    >>> mcse_decimals(0.012, digit=1), mcse_decimals(0.3, digit=1)
    (2, 1)
    """
    if digit < 1:
        raise ValueError(f"digit must be 1 or more (the MCSE's significant digit), got {digit}")
    _check_mcse(mcse)
    if not np.isfinite(mcse) or mcse == 0:
        return MAX_DECIMALS
    return int(min(MAX_DECIMALS, digit - 1 - math.floor(math.log10(mcse))))


def _check_mcse(mcse: float) -> None:
    if mcse < 0:  # False for NaN (unknown): that is allowed
        raise ValueError(f"mcse must be a standard error (0 or more; NaN when unknown), got "
                         f"{mcse}: a negative MCSE is a bug upstream")


def _fixed(value: float, decimals: int) -> str:
    """``value`` rounded to ``decimals`` (negative: tens, hundreds) and printed with no
    more digits than that."""
    # + 0.0 turns the -0.0 that round() leaves for small negatives into 0.0: "-0.00" would
    # claim a sign the Monte Carlo error cannot support.
    return f"{round(value, decimals) + 0.0:.{max(decimals, 0)}f}"


def format_to_mcse(value: float, mcse: float, *, digit: int = 2,
                   max_decimals: int | None = None) -> str:
    """One Monte Carlo summary as text, rounded to what its MCSE supports.

    Parameters
    ----------
    value, mcse : float
        The summary and its Monte Carlo standard error.
    digit : int
        2 for posterior summaries, 1 for simulation summaries (:func:`mcse_decimals`).
    max_decimals : int, optional
        A display cap below what the MCSE allows.

    Returns
    -------
    str
        ``"–"`` for NaN, ``"inf"``/``"-inf"`` for infinite values; with an MCSE of zero
        (every draw or trial alike, e.g. a rate of 0 or 1) the value as it is (``:g``);
        with an undefined MCSE (NaN: a single trial) ``digit`` significant digits, never
        more. A value that rounds to zero prints without a sign.

    Raises
    ------
    ValueError
        A negative MCSE.

    Examples
    --------
    >>> format_to_mcse(0.81234, 0.039, digit=1), format_to_mcse(0.81234, 0.039)
    ('0.81', '0.812')
    >>> format_to_mcse(-0.0812, 0.12, digit=1), format_to_mcse(1.0, 0.0)
    ('-0.1', '1')
    >>> format_to_mcse(123.4, 12.0, digit=1), format_to_mcse(float("nan"), 0.1)
    ('120', '–')
    >>> format_to_mcse(0.81234, 0.0004, max_decimals=2)
    '0.81'
    """
    value, mcse = float(value), float(mcse)
    _check_mcse(mcse)
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return str(value)
    if mcse == 0:
        return f"{value:g}"
    if not math.isfinite(mcse):
        return f"{value:.{digit}g}"
    d = mcse_decimals(mcse, digit)
    return _fixed(value, d if max_decimals is None else min(d, max_decimals))


def format_interval(values: Sequence[float], mcses: Sequence[float], *,
                    max_decimals: int | None = None) -> str:
    """A posterior estimate and its interval, ``"estimate (lower to upper)"``, with one
    number of decimals for all three: the fewest that any of their MCSEs supports
    (:func:`mcse_decimals`, ``digit=2``), at most ``max_decimals``.

    Parameters
    ----------
    values : sequence of 3 float
        Estimate, lower and upper bound.
    mcses : sequence of 3 float
        Their Monte Carlo standard errors (e.g. from
        :func:`pexsurv.workflows.report.summarise`).
    max_decimals : int, optional
        A display cap (e.g. 2 for a publication table) below what the MCSEs allow.

    Examples
    --------
    >>> format_interval([0.50312, 0.2412, 1.0467], [0.002, 0.004, 0.12])
    '0.50 (0.24 to 1.05)'
    >>> format_interval([0.50312, 0.2412, 1.0467], [0.0002, 0.0004, 0.0003], max_decimals=2)
    '0.50 (0.24 to 1.05)'
    """
    if len(values) != 3 or len(mcses) != 3:
        raise ValueError("format_interval needs three values (estimate, lower, upper) and "
                         f"their three MCSEs, got {len(values)} and {len(mcses)}")
    d = min(mcse_decimals(float(m)) for m in mcses)
    if max_decimals is not None:
        d = min(d, max_decimals)
    estimate, lower, upper = (_fixed(float(v), d) for v in values)
    return f"{estimate} ({lower} to {upper})"


def with_mcse(table: pd.DataFrame, columns: Sequence[str] | Mapping[str, str] | None = None,
              *, digit: int = 1, suffix: str = "_mcse") -> pd.DataFrame:
    """A display copy of a table of Monte Carlo summaries: each summary column and its
    MCSE column become one text column ``"value (MCSE)"``, both rounded by
    :func:`format_to_mcse` row by row.

    Parameters
    ----------
    table : pandas.DataFrame
        Summary columns with their MCSE columns beside them (e.g.
        :attr:`pexsurv.workflows.OCResult.table`).
    columns : sequence of str or mapping, optional
        Summary columns to combine; a mapping gives each one's MCSE column. Default:
        every column ``c`` for which ``c + suffix`` is also a column.
    digit : int
        1 (default) for simulation summaries, 2 for posterior summaries.
    suffix : str
        How MCSE columns are named.

    Returns
    -------
    pandas.DataFrame
        Same rows; each combined column is renamed ``"<c> (MCSE)"`` and keeps its place,
        its MCSE column is dropped, every other column is unchanged. The MCSE itself is
        shown to ``digit`` significant digits (``"n/a"`` when undefined).

    Raises
    ------
    KeyError
        A named summary column or its MCSE column is missing.

    Examples
    --------
    >>> oc = pd.DataFrame({"trials": [100, 100], "power": [0.8123, 0.0312],
    ...                    "power_mcse": [0.039, 0.017]}, index=["HR 0.6", "HR 1"])
    >>> with_mcse(oc)
            trials power (MCSE)
    HR 0.6     100  0.81 (0.04)
    HR 1       100  0.03 (0.02)
    """
    if columns is None:
        pairs = {c: f"{c}{suffix}" for c in table.columns if f"{c}{suffix}" in table.columns}
    elif isinstance(columns, Mapping):
        pairs = dict(columns)
    else:
        pairs = {c: f"{c}{suffix}" for c in columns}
    missing = [f"{c!r} (MCSE column {m!r})" for c, m in pairs.items()
               if c not in table.columns or m not in table.columns]
    if missing:
        raise KeyError(f"with_mcse: not in the table: {', '.join(missing)}; columns are "
                       f"{list(table.columns)}")
    out = table.copy()
    for column, mcse_column in pairs.items():
        out[column] = [_value_and_mcse(v, m, digit) for v, m in
                       zip(table[column].to_numpy(float), table[mcse_column].to_numpy(float))]
    out = out.drop(columns=list(pairs.values()))
    return out.rename(columns={c: f"{c} (MCSE)" for c in pairs})


def _value_and_mcse(value: float, mcse: float, digit: int) -> str:
    if math.isnan(value):
        return MISSING
    shown = "n/a" if not math.isfinite(mcse) else (
        "0" if mcse == 0 else _fixed(mcse, mcse_decimals(mcse, digit)))
    return f"{format_to_mcse(value, mcse, digit=digit)} ({shown})"
