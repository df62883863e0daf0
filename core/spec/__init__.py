"""The language of a launch: params, sweeps, stop rules, workflow files."""
