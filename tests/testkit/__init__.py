"""Helpers shared by test files in different folders; importable as ``testkit`` because pytest
puts tests/ (the root conftest's folder) on sys.path."""
