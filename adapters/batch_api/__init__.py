"""The providers' own batch APIs, pure: build a provider batch's input, read its status and
its results back into one outcome per line. One module per provider (``openai``, ``anthropic``,
``gemini``); ``outcomes`` holds what they share. Like every adapter, these open no connection:
each returns the HTTP calls to make and reads the bodies it is handed.
"""
