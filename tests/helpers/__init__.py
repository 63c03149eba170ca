"""Helpers shared by the tests: scripted pools, fake-server scripts, files beside the checkout."""
