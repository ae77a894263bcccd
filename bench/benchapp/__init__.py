"""The models that the benchmarks measure; installed only by them."""
