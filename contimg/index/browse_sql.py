"""SQL functions for browsing the products index with Datasette (a Datasette plugin,
registered by the package's ``datasette`` entry point): the canned queries of
`contimg.index.browse` take positions and times as people type them.

- ``ra_deg(text)``, ``dec_deg(text)``: degrees from degrees or sexagesimal (RA in hours:
  ``09:18:12``, ``+54:31:12``, ``9h18m12s``); NULL when the text is not a position.
- ``sep_arcsec(ra1, dec1, ra2, dec2)``: the angular distance (degrees in, arcsec out).
- ``mjd(text)``: an MJD from an MJD or an ISO UTC date/time; NULL when neither.
"""

from __future__ import annotations

from datasette import hookimpl

from . import query


def _or_null(function):
    def wrapped(*args):
        try:
            return function(*args)
        except (query.QueryError, TypeError, ValueError):
            return None

    return wrapped


def _position(ra: str, dec: str) -> tuple[float, float]:
    return query.parse_position(str(ra), str(dec))


@hookimpl
def prepare_connection(conn):
    conn.create_function("ra_deg", 1, _or_null(lambda ra: _position(ra, "0")[0]), deterministic=True)
    conn.create_function("dec_deg", 1, _or_null(lambda dec: _position("0", dec)[1]), deterministic=True)
    conn.create_function("sep_arcsec", 4, _or_null(query.separation_arcsec), deterministic=True)
    conn.create_function("mjd", 1, _or_null(lambda text: query.to_mjd(str(text))), deterministic=True)
