"""Native-format benchmark importers: pure functions from a runtime's own output to an ImportedRun.

`base` holds the shapes and helpers, one module per format reads it, `detect` recognises a format, `dispatch`
parses by format name (or "auto").
"""
