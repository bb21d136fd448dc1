"""Rating math: pure functions on arrays, no files, clocks or databases."""
