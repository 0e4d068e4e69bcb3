"""Photometry of the images: forced (catalogue positions), blind (source finding) and the
light curves and variability metrics built from them."""
