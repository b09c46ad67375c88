"""Sans-IO codecs and rules: bytes and strings in, typed values out. No I/O, no tagd imports."""
