"""Helpers the tests share: scripted backends, stream checkers, case tables, resource probes."""
