"""Key providers for the tests: the real SettingsKeyProvider, counting its calls or pausing in them."""

import threading

from privacy_kit.keys.providers import SettingsKeyProvider


class CountingProvider(SettingsKeyProvider):
    """SettingsKeyProvider that counts its batches and the keys in them (class-wide, reset per test)."""

    calls: list[tuple[str, int]] = []

    def wrap(self, keys, contexts):
        CountingProvider.calls.append(("wrap", len(keys)))
        return super().wrap(keys, contexts)

    def unwrap(self, wrapped, contexts):
        CountingProvider.calls.append(("unwrap", len(wrapped)))
        return super().unwrap(wrapped, contexts)


class RacingProvider(SettingsKeyProvider):
    """SettingsKeyProvider whose ``wrap`` waits until two threads are in it: both have seen no key."""

    barrier = threading.Barrier(2, timeout=10)

    def wrap(self, keys, contexts):
        RacingProvider.barrier.wait()
        return super().wrap(keys, contexts)


class FailingAfterProvider(SettingsKeyProvider):
    """SettingsKeyProvider whose ``wrap`` fails after ``allowed`` batches, as a key service going down."""

    allowed = 1

    def wrap(self, keys, contexts):
        from privacy_kit.keys import KeyServiceError

        if FailingAfterProvider.allowed <= 0:
            raise KeyServiceError("The test key service is down.")
        FailingAfterProvider.allowed -= 1
        return super().wrap(keys, contexts)
