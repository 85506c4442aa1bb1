"""The `pld` command line: the composition root over `stream`, `ops` and (later) `distiller`."""
