"""Warning classes of pexsurv, in the core layer so that every layer can raise them.

Filter them by class, e.g. ``warnings.simplefilter("error", ExtrapolationWarning)`` to make
any quantity beyond the data's follow-up an error.
"""

from __future__ import annotations

__all__ = ["ExtrapolationWarning"]


class ExtrapolationWarning(UserWarning):
    """A reported quantity rests on the model beyond the data: a time after an arm's last
    observed follow-up time, or an interval with no person-time in an arm.

    The quantity is still returned (flagged in an ``extrapolated`` or ``exposed``
    coordinate), because a model-based extrapolation can be what the analyst wants, but
    it was not estimated from follow-up.

    Examples
    --------
    >>> import warnings
    >>> from pexsurv.warnings import ExtrapolationWarning
    >>> issubclass(ExtrapolationWarning, UserWarning)
    True
    """
