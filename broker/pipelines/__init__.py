"""Pipelines: several completions composed in one request (docs/pipelines.md).

The pure parts (``spec``, ``graph``, ``templates``, ``decisions``) hold no connection; the
Redis state is ``state``, and ``driver`` applies the decisions as the steps' jobs end.
"""
