"""Model packages: the manifest schema, atomic publishing, verification and loading (no torch)."""
