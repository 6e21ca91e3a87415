"""Clients of the `retrieval` library: the command line (`cli.py`) and the Discord bot."""
