"""The HTTP API (``smartroute serve``).

The app factory, the OpenAI-compatible endpoint, the older systems' endpoints and the playground.
"""
