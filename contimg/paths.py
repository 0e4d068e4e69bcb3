"""Where every product lives: the one owner of the work area's path scheme.

`Area` builds each product's path under a work area (``Area()``: relative to it); a
wildcard such as ``"{obs}"`` passes through, so the rules build their patterns with the same
methods. `KINDS` describes the products the index records (the record file, the regex of its
key, its companion files), built from the same methods; `Kind.key_of` parses a record's path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OBS = r"\d{8}T\d{6}"  # a group: its first file's timestamp (naming.obs_id)
HOUR = r"\d{8}T\d{4}"  # a mosaic: the start of its bin (naming.mosaic_names)
NIGHT = r"\d{8}"  # a night: its UTC date (naming.night_names)
STRIP = r"[+-]\d\d"  # a declination strip of the survey catalogue: whole degrees

WSCLEAN_IMAGES = ("image", "residual", "psf", "model")  # WSClean's outputs the workflow keeps
IMAGE = (*(f"-{kind}.fits" for kind in WSCLEAN_IMAGES), "-pb.fits", "-image-pb.fits", "-qa.json", "-thumb.png")
MOSAIC_READS = ("-qa.json", "-image-pb.fits", "-pb.fits", "-residual.fits")  # of each image in a mosaic
PHOTOMETRY_READS = ("-image.fits", "-residual.fits", "-pb.fits", "-qa.json")  # of a group's image
MOSAIC = (".fits", "-weight.fits", "-residual.fits", ".json", ".png")
PHOTOMETRY = (".parquet", "-blind.parquet", "-cutouts.png", ".json")
LIGHTCURVES = ("measurements.parquet", "sources.parquet", "new_sources.parquet", "plots")
SYSTEMATIC_KEY = b"contimg.flux_systematic_fraction"  # a night table's schema metadata: the fraction its errors hold
SIMULATION = ("simulation.json", "sky.csv", "lightcurves.csv", "instrument.npz")  # in paths.truth
SIMULATED_SURVEY = (
    "survey/CATALOG.FIT"  # in paths.truth with simulation.survey: what the workflow is given (NVSS layout)
)


@dataclass(frozen=True)
class Area:
    """The paths of the work area at ``root`` ("": relative to the work area)."""

    root: str = ""

    def at(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    def inventory(self, name: str = "groups.csv") -> str:
        """inventory/groups.csv, files.csv, header_cache.csv."""
        return self.at(f"inventory/{name}")

    def survey_catalog(self, strip: str = "{strip}") -> str:
        """catalogs/survey_dec{strip}.csv: the survey section's catalogue around declination
        {strip} (whole degrees, signed: +54), in the workflow's format."""
        return self.at(f"catalogs/survey_dec{strip}.csv")

    def calibration_plan(self) -> str:
        return self.at("calibration/plan.csv")

    def ms(self, obs: str = "{obs}", suffix: str = "") -> str:
        """ms/{obs}.ms (flagged, uncalibrated) and ms/{obs}.ms.flags.json."""
        return self.at(f"ms/{obs}.ms{suffix}")

    def caltables(self, cal: str = "{cal}", name: str = "") -> str:
        """caltables/{cal}/: the tables, qa.json and plots solved on calibrator group {cal}."""
        return self.at(f"caltables/{cal}/{name}" if name else f"caltables/{cal}")

    def calibrated(self, obs: str = "{obs}", suffix: str = ".ms") -> str:
        """calibrated/{obs}.ms (corrected data) and calibrated/{obs}.cal.json (which calibration, why)."""
        return self.at(f"calibrated/{obs}{suffix}")

    def image(self, obs: str = "{obs}", suffix: str = "-image.fits") -> str:
        """images/{obs}-image.fits and the rest of `IMAGE` (suffix "": the prefix of them all)."""
        return self.at(f"images/{obs}{suffix}")

    def mosaic(self, hour: str = "{hour}", suffix: str = ".fits") -> str:
        """mosaics/{hour}.fits and the rest of `MOSAIC`."""
        return self.at(f"mosaics/{hour}{suffix}")

    def photometry(self, obs: str = "{obs}", suffix: str = ".parquet") -> str:
        """photometry/{obs}.parquet (forced), {obs}-blind.parquet (detections), {obs}.json."""
        return self.at(f"photometry/{obs}{suffix}")

    def lightcurves(self, name: str = "sources.parquet") -> str:
        """lightcurves/ and one of `LIGHTCURVES`."""
        return self.at(f"lightcurves/{name}")

    def night_measurements(self, night: str = "{night}", suffix: str = ".parquet") -> str:
        """lightcurves/nights/{night}.parquet: the forced measurements of the night's groups in
        one table, and {night}-new_sources.parquet: their new-source candidates."""
        return self.at(f"lightcurves/nights/{night}{suffix}")

    def night(self, night: str = "{night}") -> str:
        """nights/{night}.json: the record of a night job (planning.unit night)."""
        return self.at(f"nights/{night}.json")

    def quarantine(self, obs: str = "") -> str:
        """quarantine/ and quarantine/{obs}.json: a group whose data failed a job."""
        return self.at(f"quarantine/{obs}.json" if obs else "quarantine/")

    def planning(self, suffix: str = ".json") -> str:
        """planning/summary.json and .txt (`snakemake plan`)."""
        return self.at(f"planning/summary{suffix}")

    def index(self, name: str) -> str:
        """index/last_run.json, image_qa.csv, image_qa.html (the index's own is index.database)."""
        return self.at(f"index/{name}")

    def release(self, name: str = "{name}") -> str:
        return self.at(f"release/{name}/MANIFEST")

    def log(self, stage: str, name: str = "{obs}") -> str:
        return self.at(f"logs/{stage}/{name}.log")

    def benchmark(self, stage: str, name: str = "{obs}") -> str:
        return self.at(f"benchmarks/{stage}/{name}.tsv")


@dataclass(frozen=True)
class Kind:
    """An indexed product: its record (a path with ``{key}``), the regex of the key ("" for
    one product per work area) and its companion files (paths with ``{key}``)."""

    record: str
    key: str
    companions: tuple[str, ...] = ()

    def glob(self) -> str:
        return self.record.format(key="*")

    def key_of(self, rel: str, kind: str) -> str | None:
        """The key of the record at ``rel`` (``kind`` itself for a work area's single
        product), or None if ``rel`` is not named as this kind's records are."""
        pattern = re.escape(self.record).replace(re.escape("{key}"), f"({self.key})")
        match = re.fullmatch(pattern, rel)
        return None if match is None else (match.group(1) if self.key else kind)


_KEY = Area()  # relative paths with a "{key}" wildcard
KINDS: dict[str, Kind] = {  # in the order the indexer loads them (a product may refer to an earlier kind's)
    "inventory": Kind(_KEY.inventory(), "", (_KEY.inventory("files.csv"),)),
    "calibration_plan": Kind(_KEY.calibration_plan(), ""),
    "ms": Kind(_KEY.ms("{key}"), OBS, (_KEY.ms("{key}", ".flags.json"),)),
    "calibration": Kind(_KEY.caltables("{key}", "qa.json"), OBS, (_KEY.caltables("{key}"),)),
    "calibrated": Kind(_KEY.calibrated("{key}", ".cal.json"), OBS, (_KEY.calibrated("{key}"),)),
    "image": Kind(
        _KEY.image("{key}", "-qa.json"), OBS, tuple(_KEY.image("{key}", s) for s in IMAGE if s != "-qa.json")
    ),
    "mosaic": Kind(
        _KEY.mosaic("{key}", ".json"),
        HOUR,
        tuple(_KEY.mosaic("{key}", s) for s in (".fits", "-weight.fits", "-residual.fits")),
    ),
    "photometry": Kind(
        _KEY.photometry("{key}", ".json"), OBS, tuple(_KEY.photometry("{key}", s) for s in PHOTOMETRY if s != ".json")
    ),
    "night_measurements": Kind(
        _KEY.night_measurements("{key}"), NIGHT, (_KEY.night_measurements("{key}", "-new_sources.parquet"),)
    ),
    "lightcurves": Kind(
        _KEY.lightcurves(), "", tuple(_KEY.lightcurves(n) for n in LIGHTCURVES if n != "sources.parquet")
    ),
}
