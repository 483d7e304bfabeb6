"""SimPy cycle models: the core, cycle-exact against the RTL, and a GPU-scale model. Imports only
``isa``."""
