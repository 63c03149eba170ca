"""The OpenAI-compatible server for compiled architectures (`archon-compile serve`)."""

from archon_compile.serve.app import ServeOptions, create_app
from archon_compile.serve.errors import ApiError
from archon_compile.serve.runner import ServerThread

__all__ = ["ApiError", "ServeOptions", "ServerThread", "create_app"]
