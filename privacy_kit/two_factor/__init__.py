"""The second factor of staff: one module per factor, and the pages and forms that use them.

``totp`` is the authenticator app, ``backup_codes`` the single-use codes; ``devices``
chooses the factor that checks a code. ``forms`` and ``views`` are the login, set-up
and re-verification steps that :class:`privacy_kit.admin.sites.PrivacyAdminSite` mounts;
``failures`` reports a wrong code so that django-axes counts it. Nothing here imports
the admin: the site passes itself to the views.
"""
