"""The static audit: discovery, one scanner per file family, and cross-file checks."""
