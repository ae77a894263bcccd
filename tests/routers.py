"""The test databases' router: the second database, "keys", holds the subject keys only.

Without it Django 6.1's model checks ask every database for its features (JSON support
on SQLite is a query), and the tests that do not use "keys" may not touch it.
"""


class KeysDatabaseRouter:
    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == "keys":
            return app_label == "privacy_kit" and model_name == "subjectkey"
        return None
