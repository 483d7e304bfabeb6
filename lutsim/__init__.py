"""lutsim: the command-line interface over every level of the LUT tensor core."""
