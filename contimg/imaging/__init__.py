"""Imaging: WSClean images of a calibrated group (wsclean), the drift-averaged Airy
primary beam and its correction (pbeam), the expected noise (noise), image quality
against the catalogue (qa) and hourly mosaics (mosaic)."""
