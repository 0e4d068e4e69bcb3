"""Config validation: defaults filled, every wrong key named in one sentence."""

import copy
import dataclasses
import typing

import pytest
import yaml

from conftest import ROOT, project_config
from contimg import config as cfgmod
from contimg import settings

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
        (
            lambda c: c["simulation"]["scales"]["tiny"].update(channels_per_subband=5),
            "simulation.scales.tiny.channels_per_subband",
        ),
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


def schema_keys(node: dict) -> dict:
    """{key: its nested keys (or None)} of an object in the schema."""
    return {key: (schema_keys(value) if "properties" in value else None) for key, value in node["properties"].items()}


def class_keys(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {
        f.name: (class_keys(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None)
        for f in dataclasses.fields(cls)
    }


@pytest.mark.parametrize(
    "section, cls",
    [
        ("imaging", settings.Imaging),
        ("calibration", settings.Calibration),
        ("photometry", settings.Photometry),
        ("photometry.variability", settings.Variability),
    ],
)
def test_typed_settings_have_exactly_the_schemas_keys(section, cls):
    """Each settings class holds its schema section key for key (the group photometry job's
    without `variability`, which only the light curves read), and nothing is lost on the way."""
    schema, values = yaml.safe_load((ROOT / "config/schema.yaml").read_text()), project_config()
    for part in section.split("."):
        schema, values = schema["properties"][part], values[part]
    keys = schema_keys(schema)
    if cls is settings.Photometry:
        keys, values = settings.group_photometry(keys), settings.group_photometry(values)
    assert class_keys(cls) == keys
    assert settings.as_record(settings.from_section(cls, values, section)) == values


def test_a_section_the_settings_do_not_know_names_the_key():
    section = {**project_config()["imaging"], "clean_harder": True}
    with pytest.raises(KeyError, match="imaging and settings.Imaging differ in clean_harder"):
        settings.from_section(settings.Imaging, section, "imaging")
    qa = dict(project_config()["imaging"]["qa"])
    del qa["min_completeness"]
    with pytest.raises(KeyError, match="imaging.qa and settings.ImagingQA differ in min_completeness"):
        settings.from_section(settings.Imaging, {**project_config()["imaging"], "qa": qa}, "imaging")
