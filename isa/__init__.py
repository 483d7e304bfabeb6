"""The contract of lutsim: number formats, the frozen core config, the LMMA instruction set and
the numpy golden model. Imports nothing else of the project."""
