"""Flagging of one group in memory: bad values, autocorrelations, and AOFlagger.

Flags are computed on the visibilities before they are written, so the Measurement Set
is written once, already flagged. AOFlagger (the PyPI bindings of the same library the
`aoflagger` command uses) runs one baseline at a time with a Lua strategy kept in the
repository; baselines are shared among worker processes (the bindings hold the GIL).
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

import numpy as np

# Set in the parent before the workers fork, so they share the data without copying.
_SHARED: dict = {}


@dataclass
class FlagCounts:
    """How many visibilities (row x channel x pol) each step flagged, newly."""

    total: int
    input_flags: int = 0
    bad_values: int = 0
    autocorrelations: int = 0
    aoflagger: int = 0


def flag_bad_values(data: np.ndarray, flags: np.ndarray) -> int:
    """Flag non-finite and exactly-zero visibilities; zero the non-finite ones. Returns the count."""
    bad = ~np.isfinite(data) | (data == 0)
    data[~np.isfinite(data)] = 0
    new = int(np.count_nonzero(bad & ~flags))
    flags |= bad
    return new


def flag_autocorrelations(flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray) -> int:
    """Flag every autocorrelation row. Returns the count."""
    auto = ant1 == ant2
    new = int(np.count_nonzero(~flags[auto]))
    flags[auto] = True
    return new


def _flag_baselines(indices: list[np.ndarray]) -> list[np.ndarray]:
    """Worker: run the strategy on each baseline's rows; return (t, f) masks."""
    import aoflagger

    data, strategy_path = _SHARED["data"], _SHARED["strategy"]
    flagger = aoflagger.AOFlagger()
    strategy = flagger.load_strategy_file(strategy_path)
    n_times = len(indices[0])
    n_chan = data.shape[1]
    images = flagger.make_image_set(n_times, n_chan, 4)
    masks = []
    for rows in indices:
        vis = data[rows]  # (t, f, pol)
        for pol in range(2):
            images.set_image_buffer(2 * pol, np.ascontiguousarray(vis[:, :, pol].real.T, dtype=np.float32))
            images.set_image_buffer(2 * pol + 1, np.ascontiguousarray(vis[:, :, pol].imag.T, dtype=np.float32))
        masks.append(strategy.run(images).get_buffer().T.copy())
    return masks


def flag_rfi(
    data: np.ndarray, flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, strategy_path: str, workers: int = 1
) -> int:
    """AOFlagger on every cross-correlation (data: rows x chan x 2 pol). Returns the count."""
    cross = np.flatnonzero(ant1 != ant2)
    pairs = ant1[cross].astype(np.int64) * 100000 + ant2[cross]
    order = np.argsort(pairs, kind="stable")
    _, starts = np.unique(pairs[order], return_index=True)
    baselines = np.split(cross[order], starts[1:])
    if len({len(b) for b in baselines}) > 1:
        raise ValueError("AOFlagger needs the same integrations on every baseline")
    _SHARED.update(data=data, strategy=strategy_path)
    chunks = [baselines[i::workers] for i in range(workers)]
    try:
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.map(_flag_baselines, chunks)
        else:
            results = [_flag_baselines(chunks[0])]
    finally:
        _SHARED.clear()
    new = 0
    for chunk, masks in zip(chunks, results):
        for rows, mask in zip(chunk, masks):
            fresh = mask[:, :, None] & ~flags[rows]
            new += int(np.count_nonzero(fresh))
            flags[rows] |= mask[:, :, None]
    return new


def flag_summary(
    flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, antenna_names: dict, freqs_hz: np.ndarray, counts: FlagCounts
) -> dict:
    """Flag fractions per antenna (its cross-correlations) and per channel, and per cause."""
    cross = ant1 != ant2
    as_bytes = flags.view(np.uint8)  # sums of bytes: 10x faster than count_nonzero along an axis
    per_row = np.add.reduce(as_bytes.reshape(len(flags), -1), axis=1, dtype=np.int64)[cross] / (
        flags.shape[1] * flags.shape[2]
    )
    per_channel = np.add.reduce(as_bytes, axis=0, dtype=np.int64, where=cross[:, None, None]).sum(axis=1) / (
        np.count_nonzero(cross) * flags.shape[2]
    )
    per_antenna = {}
    for number, name in antenna_names.items():
        involved = (ant1[cross] == number) | (ant2[cross] == number)
        if involved.any():
            per_antenna[name] = round(float(per_row[involved].mean()), 5)
    return {
        "fraction_flagged_cross": round(float(per_row.mean()), 5),
        "fraction_flagged_all": round(np.count_nonzero(flags) / flags.size, 5),
        "newly_flagged": {
            "input_flags": counts.input_flags,
            "bad_values": counts.bad_values,
            "autocorrelations": counts.autocorrelations,
            "aoflagger": counts.aoflagger,
        },
        "visibilities": counts.total,
        "per_antenna": per_antenna,
        "per_channel": {
            "freq_mhz": [round(float(f) / 1e6, 4) for f in freqs_hz],
            "fraction": [round(float(x), 5) for x in per_channel],
        },
    }
