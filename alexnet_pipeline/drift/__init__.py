"""Data drift: how a new dataset version differs from the one the blessed model was trained on."""
