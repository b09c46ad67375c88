"""Configuration: `sections` (one settings model per TOML section), `model` (the root model, stations and the
loader), `errors` (a pydantic error as the key path and a one-line reason). config/tagd.example.toml documents
every key."""
