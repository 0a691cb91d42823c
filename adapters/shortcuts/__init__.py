"""Shortcuts through libraries' private APIs, one module per library, each beside the plain
public-API path it replaces. A shortcut is taken only when the installed version of its library is
one it was verified against (read once at import); any other version takes the plain path."""
