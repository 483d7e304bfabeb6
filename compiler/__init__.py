"""LLM layer shapes to LMMA programs and table-precompute kernels. Imports only ``isa``."""
