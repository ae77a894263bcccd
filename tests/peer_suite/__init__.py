"""django-cryptography's own field tests, run against privacy_kit (issue 14).

The app's label is "fields", as upstream's tests.fields, so that their test bodies,
serialized fixtures and migration modules stay as they wrote them.
"""
