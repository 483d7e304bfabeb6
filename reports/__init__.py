"""Area, power, energy, throughput, sweeps and plots, on top of every other level."""
