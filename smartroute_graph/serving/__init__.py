"""The HTTP API (``smartroute serve``): the app factory, the OpenAI-compatible endpoint, the
older systems' endpoints and the playground.
"""
