"""The EDA flow: designs built from a core configuration, Yosys synthesis on a cell library,
OpenSTA timing and power with measured switching activity, node scaling, FPGA place and route."""
