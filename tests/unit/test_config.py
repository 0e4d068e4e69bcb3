"""Config validation: defaults filled, every wrong key named in one sentence."""

import copy

import pytest
import yaml

from contimg import config as cfgmod
from conftest import ROOT

SCHEMA = ROOT / "config/schema.yaml"


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults(raw):
    raw["inventory"].pop("workers")
    out = cfgmod.validate(raw, SCHEMA)
    assert out["inventory"]["workers"] == 2
    assert out["simulation"]["corruptions"]["noise"] is True


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["simulation"].update(scael="tiny"), "simulation.scael"),
        (lambda c: c["inventory"].update(group_tolerance_s="sixty"), "inventory.group_tolerance_s"),
        (lambda c: c["inventory"].update(group_tolerance_s=-1), "inventory.group_tolerance_s"),
        (lambda c: c["simulation"].update(scale="huge"), "simulation.scale"),
        (lambda c: c["simulation"]["scales"]["tiny"].update(channels_per_subband=5), "simulation.scales.tiny.channels_per_subband"),
        (lambda c: c["instrument"]["site"].pop("latitude_deg"), "instrument.site.latitude_deg"),
        (lambda c: c["simulation"].update(start_utc="yesterday"), "simulation.start_utc"),
        (lambda c: c.update(imagnig={}), "imagnig"),
        (lambda c: c["imaging"].update(robust=3), "imaging.robust"),
        (lambda c: c["calibration"]["qa"].update(amplitude_range=[1.0]), "calibration.qa.amplitude_range"),
    ],
)
def test_wrong_key_is_named_in_one_sentence(raw, mutate, key):
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.validate(bad, SCHEMA)
    message = str(err.value)
    assert f"'{key}'" in message
    assert message.count("\n") == 0 and message.endswith(".")


def test_every_schema_property_is_documented():
    schema = yaml.safe_load(SCHEMA.read_text())
    undocumented = []

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub:
                undocumented.append(f"{path}{name}")
            walk(sub, f"{path}{name}.")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}*.")

    walk(schema, "")
    assert undocumented == []


def test_unreadable_config_file_is_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("paths: [unclosed\n")
    with pytest.raises(cfgmod.ConfigError, match="config.yaml cannot be read"):
        cfgmod.load(path, SCHEMA)
