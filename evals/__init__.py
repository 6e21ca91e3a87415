"""The offline eval harness: gold questions, deterministic metrics, reports."""
