"""Typed settings of the imaging, calibration and photometry steps, built from the validated
config section a rule passes to its job (`from_section`); each class has exactly the keys of
its section in config/schema.yaml (tests/unit/test_config.py holds them together)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass


@dataclass(frozen=True)
class ImagingQA:
    flux_ratio_min_jy: float
    flux_ratio_range: tuple[float, float]
    max_rms_over_thermal: float
    completeness_snr: float
    min_completeness: float
    min_pixels_per_beam: float
    max_offset_beam_fraction: float


@dataclass(frozen=True)
class Imaging:
    fov_deg: float
    pixels_per_beam: float
    robust: float
    niter: int
    mgain: float
    auto_mask: float
    auto_threshold: float
    local_rms: bool
    baseline_averaging_s: float
    average_channels_to_hz: float
    extra_args: tuple
    subtract_min_apparent_jy: float
    subtract_inside_min_apparent_jy: float
    subtract_radius_deg: float
    pb_cut: float
    pb_frequencies: int
    catalog: str
    qa: ImagingQA
    mosaic_hours: float


@dataclass(frozen=True)
class CalibrationQA:
    max_flagged_fraction: float
    min_median_snr: float
    max_phase_scatter_deg: float
    amplitude_range: tuple[float, float]
    max_bad_antenna_fraction: float


@dataclass(frozen=True)
class Calibration:
    field_catalog: str
    model_min_apparent_flux_jy: float
    model_radius_deg: float
    delay: bool
    gain_solint: str
    minsnr: float
    refant_candidates: int
    residual_flag_scale: float
    validity_hours: float
    max_candidates: int
    temporary_ms: bool
    qa: CalibrationQA


@dataclass(frozen=True)
class Blind:
    seed_clip: float
    flood_clip: float
    match_radius_beams: float
    new_source_min_snr: float
    shape_tolerance: float
    artefact_radius_arcmin: float
    artefact_flux_fraction: float
    sidelobe_band_arcmin: float
    dipole_radius_beams: float
    dipole_fraction: float
    alias_radius_beams: float
    alias_flux_fraction: float


@dataclass(frozen=True)
class Variability:
    min_epochs: int
    vs_min: float
    m_min: float
    eta_min: float
    v_min: float
    min_snr: float
    false_alarm: float


@dataclass(frozen=True)
class Photometry:
    catalog: str
    edge_margin_beams: float
    position_min_snr: float
    blind: Blind


def group_photometry(section: dict) -> dict:
    """The ``photometry`` config section as a group's photometry job reads it (`Photometry`):
    without ``variability``, which only the light curves read, so that changing a variability
    setting re-runs the light curves and not every group's photometry."""
    return {key: value for key, value in section.items() if key != "variability"}


T = typing.TypeVar("T")


def from_section(cls: type[T], section: dict, name: str) -> T:
    """``cls`` from config section ``name`` (validated: every key is there; lists become
    tuples). A key the class does not know, or one it needs that is missing, is an error
    naming it: the class and the schema have drifted apart."""
    types = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    if set(section) != known:
        drift = sorted(set(section) ^ known)
        raise KeyError(f"config section {name} and settings.{cls.__name__} differ in {', '.join(drift)}")
    values = {}
    for key, value in section.items():
        kind = types[key]
        if dataclasses.is_dataclass(kind):
            value = from_section(kind, value, f"{name}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def as_record(settings) -> dict:
    """The settings as they appear in a JSON record (tuples as lists)."""
    return dataclasses.asdict(
        settings, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items}
    )
