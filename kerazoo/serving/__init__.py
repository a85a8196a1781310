"""A TF Serving-compatible model server over kerazoo's versioned model repository.

``serve(repo, rest_port, grpc_port)`` starts REST and gRPC servers that speak TF Serving's own protocols, so any
TF Serving client works against either; moving to the real server (``serving/`` at the repository root) is a
change of address. See docs/serving.md.
"""

from kerazoo.serving.config import (
    BatchingOptions, ModelConfig, VersionPolicy, format_model_config, load_batching_parameters_file,
    load_model_config_file, parse_batching_parameters, parse_model_config,
)
from kerazoo.serving.errors import ServingError
from kerazoo.serving.repository import ModelRepository
from kerazoo.serving.server import ModelServer, serve

__all__ = [
    "BatchingOptions", "ModelConfig", "ModelRepository", "ModelServer", "ServingError", "VersionPolicy",
    "format_model_config", "load_batching_parameters_file", "load_model_config_file", "parse_batching_parameters",
    "parse_model_config", "serve",
]
