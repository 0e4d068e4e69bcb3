"""The workflow on real-data settings (config/real_data.yaml laid over config/config.yaml):
real calibrators only, a survey catalogue as distributed made into one catalogue per
declination strip, and the simulated night's sources refused."""

import pandas as pd
import yaml

from conftest import DEPLOYED, add_catalog_row, deploy, from_the_correlator, nvss_catalog, run

REAL = ("--configfile", "config/real_data.yaml", "config/here.yaml")


def test_a_real_data_run_plans_and_makes_the_survey_catalogue_of_its_strip(tmp_path, tiny_night):
    """The tiny night's files as if the correlator wrote them (their history says so): its
    calibrator under a real calibrator's kind of name (the simulated one, same name and place,
    is refused), NVSS as the sky."""
    night, scene, files = tiny_night
    workdir = deploy(tmp_path)
    incoming = from_the_correlator(files, tmp_path / "incoming")
    (workdir / "config/here.yaml").write_text(yaml.safe_dump({"paths": {"incoming": str(incoming)}}))
    nvss_catalog(workdir / "catalogs/nvss/CATALOG.FIT", [137.0, 137.5, 200.0], [54.6, 55.0, 10.0], [0.1, 0.05, 1.0])

    refused = run(
        workdir,
        "-n",
        *REAL,
        "--config",
        "inventory={'calibrator_catalog': 'config/catalogs/simulated_calibrators.csv'}",
    )
    assert refused.returncode != 0 and "SIM CAL J0907+5440" in refused.stderr + refused.stdout

    add_catalog_row(workdir / "config/catalogs/calibrators.csv", "J0907+5440,136.90588,54.67586,15.0,-0.6,0,0,0,0")
    assert run(workdir, "inventory", *REAL).returncode == 0
    groups = pd.read_csv(workdir / DEPLOYED.inventory())
    assert groups["calibrator"].fillna("").tolist() == ["", "J0907+5440", ""]
    plan = run(workdir, "-n", *REAL)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "survey_catalog" in plan.stdout and DEPLOYED.survey_catalog("+55") in plan.stdout
    made = run(workdir, DEPLOYED.survey_catalog("+55"), *REAL)
    assert made.returncode == 0, made.stderr[-2000:]
    catalog = pd.read_csv(workdir / DEPLOYED.survey_catalog("+55"), comment="#")
    assert catalog["name"].tolist() == ["NVSS J090800.00+543600.0", "NVSS J091000.00+550000.0"]
