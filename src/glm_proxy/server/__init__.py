"""The HTTP server: routes, middleware, keys, shutdown, the access log, streamed responses."""
