"""The ground floor: taxonomy, errors, the model catalog and prices, the one chat-model
factory (providers), input normalisation and attachments. Imports nothing above it.
"""
