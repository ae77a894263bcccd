"""Subject keys: one data key per subject, wrapped by a key provider, destroyed on erasure.

The public API::

    keys_for(subject_ids, create=False)  # {subject id as text: 32-byte key}, batched, cached
    destroy(subject_id)                  # the key is gone; returns when
    rewrap(batch_size=None)              # move wrapped keys to the provider's current key id
    subject_id(user.pk)                  # a subject's id as text, as the database reports it
    destroyed_subjects()                 # the ids of the erased subjects

``KeyServiceError`` says the key service is down or refused; ``KeyDestroyed`` (from
``privacy_kit.crypto``) says a subject's key was destroyed.
"""

from ..crypto import KeyDestroyed
from .providers import KeyProvider, KeyServiceError
from .store import destroy, destroyed_subjects, keys_for, rewrap, subject_id

__all__ = [
    "KeyDestroyed",
    "KeyProvider",
    "KeyServiceError",
    "destroy",
    "destroyed_subjects",
    "keys_for",
    "rewrap",
    "subject_id",
]
