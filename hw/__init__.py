"""Amaranth HDL of the LUT tensor core and its baseline datapaths. Imports only ``isa``."""
