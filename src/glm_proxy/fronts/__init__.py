"""The fronts: each speaks one client API and maps it onto the backend's chat completions."""
