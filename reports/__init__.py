"""Area, power, energy, throughput, sweeps and plots, on top of every other level.

``flow/`` is the EDA flow (synthesis, timing, power, node scaling, FPGA), ``sweep/`` the sweep
engine; ``latency`` and ``energy`` are the analytics of models on the GPU model and of actions
on the synthesized costs; ``report`` assembles the report."""
