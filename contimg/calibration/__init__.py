"""Calibration: which calibrator serves which group (plan), the calibrator's sky model
(model), the CASA solves (solve), the quality gate (qa) and applying a good solution to a
group (apply)."""
