# CASA site configuration for offline machines, installed into the virtual environment by
# `make setup` (casaconfig finds a module named casasiteconfig on sys.path). The measures
# and reference data come from the pinned `casadata` wheel; nothing is downloaded.
import os

import casadata

measurespath = casadata.datapath
measures_auto_update = False
data_auto_update = False
# No casa-<date>.log in the working directory: workflow scripts send CASA's messages to
# their job's log (casatasks.casalog.setlogfile); call it yourself in an interactive session.
logfile = os.devnull
