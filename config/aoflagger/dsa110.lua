--[[
  AOFlagger strategy of the DSA-110 continuum workflow.

  Input: one baseline of one group, 24 integrations x up to 768 channels, XX and YY,
  before calibration (so the bandpass shape is still in the data). The strategy flags on
  Stokes I amplitude (XX + YY: sqrt(2) more sensitive than either polarisation and half
  the work) and applies the mask to both polarisations.

  With only 24 integrations, the smooth background is fitted mostly along frequency: the
  data are smoothed with a Gaussian kernel 31 channels high and 3 integrations wide, the
  residual is searched with the SumThreshold method, twice with a relaxing threshold,
  then the scale-invariant rank operator widens the flagged regions a little.
  Thresholds are in units of the residual's robust standard deviation.
]]--

aoflagger.require_min_version("3.0")

function execute(input)
  local base_threshold = 1.2    -- lower flags more
  local iterations = 3
  local threshold_step = 2.0

  input:clear_mask()
  local data = input:convert_to_polarization("I")
  data = data:convert_to_complex("amplitude")
  local original = data:copy()

  for i = 1, iterations - 1 do
    local factor = threshold_step ^ (iterations - i)
    aoflagger.sumthreshold(data, factor * base_threshold, factor * base_threshold, true, true)
    local per_channel = data:copy()
    aoflagger.threshold_timestep_rms(data, 3.5)
    aoflagger.threshold_channel_rms(per_channel, 3.0 * factor, true)
    data:join_mask(per_channel)

    -- fit the smooth background (bandpass and sources) and keep the residual
    data:set_visibilities(original)
    aoflagger.low_pass_filter(data, 3, 31, 2.0, 6.0)
    local residual = original - data
    residual:set_mask(data)
    data = residual
  end

  aoflagger.sumthreshold(data, base_threshold, base_threshold, true, true)
  input:join_mask(data)
  aoflagger.scale_invariant_rank_operator(input, 0.2, 0.2)
  input:flag_nans()
end
