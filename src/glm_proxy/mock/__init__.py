"""A built-in backend that answers like a local GLM server whose tool calls are not parsed.

- ``schema_values``: derive a call's arguments from a tool's JSON schema and the user's message.
- ``replies``: decide the raw GLM text of the answer to a request.
- ``completions``: encode that answer as an OpenAI chat completion (JSON or SSE).
- ``server``: the aiohttp app (``create_mock_app``) and ``start_mock_backend`` (in-process).

Only the pure parts are re-exported here, so importing them does not pull in aiohttp.
"""

from glm_proxy.mock.replies import plan_calls
from glm_proxy.mock.schema_values import derive_arguments

__all__ = ["derive_arguments", "plan_calls"]
