"""Group selection (planning.selection) and the inner run of a night job (planning.unit night)."""

import numpy as np
import pandas as pd
import pytest
from snakemake.cli import get_argument_parser

from contimg import nightjob, selection


def groups_table():
    # 6 groups: 2026-01-01 23:00, 2026-01-02 01:00 / 12:00 / 23:59, 2026-01-03 00:00 / 12:00
    mjd = selection.mjd_of("start", "2026-01-01") + np.array([23 / 24, 1 + 1 / 24, 1.5, 1 + 1439 / 1440, 2.0, 2.5])
    return pd.DataFrame(
        {"obs": [f"g{k}" for k in range(6)], "mjd_mid": mjd, "pointing_dec_deg": [54.6, 54.6, 71.6, 54.6, 54.6, 16.3]}
    )


def test_selection_by_date_range_declination_and_status():
    groups = groups_table()
    keep, left_out = selection.select(groups, {"start": "2026-01-02", "end": "2026-01-03"}, lambda obs: False)
    assert list(groups["obs"][keep]) == ["g1", "g2", "g3"]  # [start, end): midnight of the 3rd is out
    assert left_out == {"start": 1, "end": 2}
    keep, left_out = selection.select(groups, {"dec_min_deg": 50.0, "dec_max_deg": 60.0}, lambda obs: False)
    assert list(groups["obs"][keep]) == ["g0", "g1", "g3", "g4"]
    assert left_out == {"dec_min_deg": 1, "dec_max_deg": 1}
    keep, left_out = selection.select(
        groups, {"start": "2026-01-02T12:00", "status": "unfinished"}, lambda obs: obs in ("g2", "g5")
    )
    assert list(groups["obs"][keep]) == ["g3", "g4"]
    assert left_out == {"start": 2, "status": 2}
    keep, left_out = selection.select(groups, {"start": None, "status": "all"}, lambda obs: True)
    assert keep.all() and left_out == {}


def test_a_wrong_date_names_its_key():
    with pytest.raises(ValueError, match=r"planning\.selection\.end.*2026-02-30"):
        selection.select(groups_table(), {"end": "2026-02-30"}, lambda obs: False)


def test_inner_run_keeps_the_targets_apart_from_options_with_several_values():
    """--configfile and --resources take several values: the targets must not end up there."""
    targets = ["work/images/a-qa.json", "work/photometry/a.parquet"]
    for environ, conda in (({}, False), ({"CONDA_PREFIX": "/w/.snakemake/conda/abc123"}, True)):
        command = nightjob.inner_command("/w/Snakefile", "/w/logs/night/x.config.yaml", 8, 30000, targets, environ)
        assert command[1:4] == ["-P", "-m", "snakemake"]
        args = get_argument_parser().parse_args(command[4:])
        assert args.targets == targets and [str(p) for p in args.configfile] == ["/w/logs/night/x.config.yaml"]
        assert list(args.resources) == ["mem_mb"] and args.cores == 8 and args.nolock and args.keep_going
        assert args.workflow_profile == "none"
        assert (args.conda_prefix == "/w/.snakemake/conda") is conda
