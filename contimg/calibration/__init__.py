"""Calibration: which calibrator serves which group (plan), the calibrator's sky model
(model), the CASA solves (solve), the quality gate (qa), applying a good solution to a
group (apply) and the software versions their records name (provenance)."""
