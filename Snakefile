# The DSA-110 continuum workflow: correlator files -> inventory -> ... (see docs/architecture.md)
import sys

from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, workflow.basedir)  # the contimg package, also when run from elsewhere
from contimg import config as cfgmod  # noqa: E402


configfile: "config/config.yaml"


report: "rules/report/workflow.rst"


try:
    cfgmod.validate(config, workflow.source_path("config/schema.yaml"))
except cfgmod.ConfigError as err:
    sys.exit(f"Configuration error: {err}")


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/catalogs.smk"
include: "rules/inventory.smk"
include: "rules/convert.smk"
include: "rules/calibrate.smk"
include: "rules/image.smk"
include: "rules/photometry.smk"
include: "rules/night.smk"
include: "rules/plan.smk"
include: "rules/index.smk"
include: "rules/release.smk"


rule all:
    default_target: True
    input:
        lambda wildcards: all_targets(),  # a function: only built when `all` is asked for
