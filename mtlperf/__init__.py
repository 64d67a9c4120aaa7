"""mtlperf: multi-task loss-weighting methods, timed and checked against their papers."""

from .methods import create_method, list_methods, parse_spec

__version__ = "0.1.0"
__all__ = ["create_method", "list_methods", "parse_spec", "__version__"]
