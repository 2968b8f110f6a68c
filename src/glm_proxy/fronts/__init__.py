"""The fronts: each API that clients speak, over one conversion core."""
