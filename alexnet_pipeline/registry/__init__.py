"""The model registry: the gate that blesses a candidate, the blessed model kept between runs, and
its versions as GTO git tags."""
