"""The ground floor of the package; imports nothing above it.

Taxonomy, errors, the model catalog and prices, the one chat-model factory (providers), input
normalisation and attachments.
"""
