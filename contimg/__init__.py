"""contimg: the science code of the DSA-110 continuum workflow.

Small modules, each with one job: ``layout`` (stations), ``geometry`` (sidereal time,
apparent places, w terms), ``beam`` (Airy primary beam), ``sky`` (catalogues),
``predict`` (point-source visibilities through the beam), ``simulate`` (the simulated
night), ``inventory`` (groups of raw files), ``convert`` (a group -> flagged Measurement
Set) with ``flagging`` (bad values, autocorrelations, AOFlagger) and ``msio`` (the MS
writer), ``calibration`` (plan, sky model, CASA solves, quality gate, apply),
``imaging`` (WSClean, primary beam, expected noise, image QA, mosaics),
``casa_setup`` (offline CASA), ``config`` (validation), ``naming`` (file names),
``tables`` and ``runlog`` (I/O helpers).
"""
