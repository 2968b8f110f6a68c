"""The GLM dialect (GLM-4.5, 4.6, 4.7, 5.x): ``parser`` reads its output, ``render`` writes it."""
