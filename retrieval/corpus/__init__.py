"""The bundled seed corpus: two reports of 26 April 2025 on the Kursk claims, unchanged."""
