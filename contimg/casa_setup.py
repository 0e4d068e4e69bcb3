"""One-time CASA set-up for offline machines (run by `make setup`).

- Installs ``casasiteconfig.py`` (from config/) into the environment's site-packages, so
  casatools takes its measures data from the pinned ``casadata`` wheel and never tries to
  download.
- Registers the DSA-110 array reference position in the Observatories table of that data:
  CASA refuses Measurement Sets whose telescope it does not know ("Telescope DSA-110 is not
  recognized by CASA").

    python -m contimg.casa_setup config/config.yaml
"""

from __future__ import annotations

import shutil
import site
import sys
from pathlib import Path

import yaml

from .layout import site_location

TELESCOPE = "DSA-110"


def install_site_config(source: Path) -> Path:
    """Copy the site config next to the installed packages; return where it went."""
    target = Path(site.getsitepackages()[0]) / "casasiteconfig.py"
    shutil.copyfile(source, target)
    return target


def register_observatory(site_cfg: dict) -> bool:
    """Add (or update) DSA-110 in casadata's geodetic/Observatories table. True if changed."""
    import casadata
    from casacore.tables import table

    loc = site_location(site_cfg)
    values = {
        "MJD": 59000.0,
        "Name": TELESCOPE,
        "Type": "ITRF",
        "Long": site_cfg["longitude_deg"],
        "Lat": site_cfg["latitude_deg"],
        "Height": site_cfg["height_m"],
        "X": float(loc.x.value),
        "Y": float(loc.y.value),
        "Z": float(loc.z.value),
        "Source": "contimg config instrument.site (station DSA-001)",
        "Comment": "DSA-110 array reference",
        "AntennaResponses": "",
    }
    with table(f"{casadata.datapath}/geodetic/Observatories", readonly=False, ack=False) as obs:
        names = list(obs.getcol("Name"))
        if TELESCOPE in names:
            row = names.index(TELESCOPE)
            if all(obs.getcell(k, row) == v for k, v in values.items()):
                return False
        else:
            obs.addrows(1)
            row = obs.nrows() - 1
        for key, value in values.items():
            obs.putcell(key, row, value)
    return True


def main(config_path: str) -> None:
    root = Path(config_path).resolve().parent
    target = install_site_config(root / "casasiteconfig.py")
    config = yaml.safe_load(Path(config_path).read_text())
    changed = register_observatory(config["instrument"]["site"])
    print(f"CASA: site config {target}; {TELESCOPE} {'registered' if changed else 'already registered'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config/config.yaml")
