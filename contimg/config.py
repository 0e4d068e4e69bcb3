"""Configuration: validate against config/schema.yaml, fill defaults, explain errors in one sentence."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """A configuration problem, phrased as one sentence naming the key."""


def _with_defaults(validator_class):
    """A validator class that also fills in each property's schema default."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = sub["default"]
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(filter(None, [path, extra[0] if extra else ""]))
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join(filter(None, [path, missing[0] if missing else ""]))
    return path or "(top level)"


def _sentence(error: jsonschema.ValidationError) -> str:
    key = _key_path(error)
    if error.validator == "additionalProperties":
        return f"config key '{key}' is not a known setting (see config/schema.yaml)."
    if error.validator == "required":
        return f"config key '{key}' is required but missing."
    return f"config key '{key}': {error.message}."


def validate(config: dict, schema_path: str | Path) -> dict:
    """Fill defaults in place and check ``config``; raise ConfigError naming the first bad key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_sentence(errors[0]))
    _check_relations(config)
    return config


def _check_relations(config: dict) -> None:
    """Checks across keys that JSON Schema cannot express."""
    sim = config["simulation"]
    if sim.get("enabled", True):
        for key in ("start_utc", "pointing_dec_deg", "sky_catalog", "scales"):
            if key not in sim:
                raise ConfigError(f"config key 'simulation.{key}' is required when simulation.enabled is true.")
        if sim["scale"] not in sim["scales"]:
            raise ConfigError(f"config key 'simulation.scale': {sim['scale']!r} is not one of {sorted(sim['scales'])}.")
        native = config["instrument"]["band"]["channels_per_subband"]
        for name, scale in sim["scales"].items():
            if native % scale["channels_per_subband"]:
                raise ConfigError(
                    f"config key 'simulation.scales.{name}.channels_per_subband': "
                    f"{scale['channels_per_subband']} does not divide the native {native} channels."
                )
    _check_catalogs(config)
    for arm in ("ew_arm", "ns_arm"):
        spec = config["instrument"]["layout"][arm]
        if spec["last"] < spec["first"]:
            raise ConfigError(f"config key 'instrument.layout.{arm}.last' is smaller than its 'first'.")


CATALOG_KEYS = (  # (section, key) of the catalogues the workflow reads
    ("inventory", "calibrator_catalog"),
    ("calibration", "field_catalog"),
    ("imaging", "catalog"),
    ("photometry", "catalog"),
)
SURVEY = "survey"  # a catalogue key's value meaning the survey section's product (catalogs/survey_dec{strip}.csv)


def calibrator_files(config: dict) -> list[str]:
    """The calibrator lists a run reads: inventory.calibrator_catalog (real calibrators) and
    simulation.calibrator_catalog (the simulated night's own) unless it is null, as
    config/real_data.yaml makes it."""
    simulated = config["simulation"].get("calibrator_catalog")
    return [config["inventory"]["calibrator_catalog"], *([simulated] if simulated else [])]


def incoming_is_real(incoming: str | Path) -> bool:
    """Whether ``incoming`` holds correlator files the simulator did not write: the first one
    readable as UVH5 decides (none: nothing says so)."""
    from .naming import parse_raw_filename
    from .uvh5 import written_by_simulator

    if not Path(incoming).is_dir():
        return False
    with os.scandir(incoming) as entries:
        for entry in entries:
            if parse_raw_filename(entry.name):
                simulated = written_by_simulator(entry.path)
                if simulated is not None:
                    return not simulated
    return False


def _check_catalogs(config: dict) -> None:
    """A catalogue key saying `survey` needs a survey format; on real data (simulation.enabled
    false and files in paths.incoming that the simulator did not write) no catalogue the run
    reads may hold a source of the embedded simulated night (simulation.sky_catalog,
    simulation.calibrator_catalog: same name and position), however it got there."""
    from .sky import read_catalog, simulated_sources

    sim = config["simulation"]
    for section, key in CATALOG_KEYS:
        if config[section][key] == SURVEY and not config["survey"]["format"]:
            raise ConfigError(f"config key '{section}.{key}' is 'survey' but survey.format is not set.")
    if sim.get("enabled", True) or not incoming_is_real(config["paths"]["incoming"]):
        return
    embedded = [sim[k] for k in ("sky_catalog", "calibrator_catalog") if sim.get(k) and Path(sim[k]).is_file()]
    keys = [*CATALOG_KEYS, ("simulation", "calibrator_catalog")]
    for section, key in keys:
        value = config[section].get(key)
        if embedded and value and value != SURVEY and Path(value).is_file():
            leaked = simulated_sources(read_catalog(value), read_catalog(embedded))
            if leaked:
                raise ConfigError(
                    f"config key '{section}.{key}': {value} holds source(s) of the simulated night "
                    f"({', '.join(leaked[:3])}) but {config['paths']['incoming']} holds real data "
                    "(simulation.enabled is false; config/real_data.yaml has the settings for real data)."
                )


def load(config_path: str | Path, schema_path: str | Path) -> dict:
    """Read a YAML config file and validate it."""
    try:
        config = yaml.safe_load(Path(config_path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"config file {config_path} cannot be read: {err}") from None
    return validate(config, schema_path)
