"""The fronts: each speaks one client API over the same backend and conversion core."""
