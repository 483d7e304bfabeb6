"""The sweep engine: a spec of parameter axes, evaluators that measure each point, a cache of
points keyed by their inputs, local or Dask execution, and Pareto fronts."""
