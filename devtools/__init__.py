"""Developer tools shared by tests/, field/, benchmarks/ and scripts/ (not shipped in the wheel)."""
