"""How far apart two runs' versions of one product are, when their content digests differ.

WSClean's multithreaded inversion does not sum in the same order from run to run under
load: its images differ by a few float32 units in the last place (seen: 5e-7 of the peak),
and so does everything computed from them: the QA record's sixth decimals, a thumbnail's
grey level here and there, the index's numbers. A re-run (a release's verification, a test
comparing two runs) accepts a product whose numbers are within `TOLERANCES` of the other's,
with identical structure and identical text; anything else differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .fingerprint import VOLATILE_JSON_KEYS, index_tables

# max |difference| / max |value| of each numeric array, column or JSON number
TOLERANCES = {".fits": 1e-5, ".parquet": 1e-6, ".json": 1e-5, ".sqlite": 1e-5, ".png": 1.5 / 255}
# the records round their numbers to 6 decimals: one unit of the last is allowed besides
ROUNDING = {".json": 1e-6, ".sqlite": 1e-6}
# aegean's fit uncertainties (lmfit's covariance of each component) move ~100x more than the
# fitted values: 3e-5 to 9e-5 of themselves between two runs whose peaks agree to 1e-6
FIT_ERROR_COLUMNS = ("err_ra_arcsec", "err_dec_arcsec", "err_peak_jy_beam")
FIT_ERROR_ALLOWANCE = 1000.0  # times the Parquet tolerance


def within_tolerance(a: Path, b: Path) -> float | None:
    """The difference (`difference`) of ``a`` from ``b`` if it is within `TOLERANCES`, else None."""
    if a.suffix not in TOLERANCES:
        return None
    diff = difference(a, b)
    return diff if diff is not None and diff <= TOLERANCES[a.suffix] else None


def difference(a: Path, b: Path) -> float | None:
    """Largest |a - b| / max |b| over the numbers of two files of one kind (FITS data,
    Parquet columns, JSON numbers, PNG pixels, the index's columns); None when they differ
    in anything but numbers."""
    pairs = READERS[a.suffix](a, b)
    if pairs is None:
        return None
    rounding = ROUNDING.get(a.suffix, 0.0)
    worst = 0.0
    for pair in pairs:
        x, y = np.asarray(pair[0], float), np.asarray(pair[1], float)
        allowance = pair[2] if len(pair) > 2 else 1.0
        if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
            return None
        scale = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 0.0
        excess = np.nanmax(np.abs(x - y)) - rounding if x.size else 0.0
        if scale > 0 and excess > 0:
            worst = max(worst, float(excess / scale / allowance))
    return worst


def _fits(a: Path, b: Path):
    from astropy.io import fits

    return [(fits.getdata(a), fits.getdata(b))]


def _parquet(a: Path, b: Path):
    import pandas as pd

    ta, tb = pd.read_parquet(a), pd.read_parquet(b)
    if list(ta.columns) != list(tb.columns) or len(ta) != len(tb):
        return None
    numeric = [c for c in ta.columns if np.issubdtype(ta[c].dtype, np.number)]
    if any(not ta[c].equals(tb[c]) for c in ta.columns if c not in numeric):
        return None
    return [
        (ta[c].to_numpy(float), tb[c].to_numpy(float), FIT_ERROR_ALLOWANCE if c in FIT_ERROR_COLUMNS else 1.0)
        for c in numeric
    ]


def _numbers(value, path: str = "") -> tuple[list, dict]:
    """The numbers of a JSON value (in order) and everything else (by path)."""
    if isinstance(value, dict):
        found = ([], {path: sorted(value)})
        items = ((f"{path}/{k}", v) for k, v in value.items() if k not in VOLATILE_JSON_KEYS)
    elif isinstance(value, list):
        found = ([], {path: len(value)})
        items = ((f"{path}[{k}]", v) for k, v in enumerate(value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value], {}
    else:
        return [], {path: value}
    for sub_path, sub in items:
        numbers, other = _numbers(sub, sub_path)
        found[0].extend(numbers)
        found[1].update(other)
    return found


def _json(a: Path, b: Path):
    (na, oa), (nb, ob) = (_numbers(json.loads(p.read_text())) for p in (a, b))
    if oa != ob or len(na) != len(nb):
        return None
    return [([x], [y]) for x, y in zip(na, nb)]  # each number to its own scale


def _png(a: Path, b: Path):
    import matplotlib.image as mpimg

    return [(mpimg.imread(a), mpimg.imread(b))]


def _sqlite(a: Path, b: Path):
    ta, tb = index_tables(a), index_tables(b)
    if ta.keys() != tb.keys():
        return None
    pairs = []
    for name, (columns, rows_a) in ta.items():
        columns_b, rows_b = tb[name]
        if columns != columns_b or len(rows_a) != len(rows_b):
            return None
        for k in range(len(columns)):
            xa, xb = [row[k] for row in rows_a], [row[k] for row in rows_b]
            if xa == xb:
                continue
            if not all(v is None or isinstance(v, (int, float)) for v in xa + xb):
                return None  # text differs
            pairs.append(([np.nan if v is None else v for v in xa], [np.nan if v is None else v for v in xb]))
    return pairs


READERS = {".fits": _fits, ".parquet": _parquet, ".json": _json, ".png": _png, ".sqlite": _sqlite}
