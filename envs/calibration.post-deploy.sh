#!/usr/bin/env bash
# Run by Snakemake in the conda environment of envs/calibration.yaml right after creating it
# (--software-deployment-method conda), from the workflow's working directory: the same
# one-time CASA set-up `make setup` does for .venv. casasiteconfig.py goes into the
# environment (CASA takes its measures data from the pinned casadata wheel and never tries to
# download: compute nodes are offline) and DSA-110 is registered in its Observatories table.
set -euo pipefail
python -m contimg.casa_setup config/config.yaml
