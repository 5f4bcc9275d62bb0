"""Which images are usable: the image manifest, great-expectations checks, and the validation report."""
