"""Key providers: SettingsKeyProvider, and AwsKmsKeyProvider against a real KMS-compatible HTTP server (moto)."""

import re
import socket
import sys
import types
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from privacy_kit.crypto import DecryptionError
from privacy_kit.keys import KeyServiceError, keys_for, providers
from privacy_kit.keys import store as key_store
from privacy_kit.keys.providers import AwsKmsKeyProvider, SettingsKeyProvider
from privacy_kit.models import SubjectKey
from tests.settings import BASE_DIR, TEST_BLIND_INDEX_KEY, TEST_KEY_PRIMARY

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

# Fake credentials for the local server; distinctive, so a test can see one never leaks into a message.
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIATESTSONLY0000000",
    "AWS_SECRET_ACCESS_KEY": "tests-only-secret-access-key-do-not-echo",
    "AWS_DEFAULT_REGION": "me-central-1",
}


class CountingMotoServer(moto_server.ThreadedMotoServer):
    """moto's threaded KMS-compatible server, counting the HTTP requests it receives."""

    def __init__(self, port):
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.requests = 0

    def _server_entry(self):
        # ThreadedMotoServer's own entry, with the application wrapped in a counter.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        application = DomainDispatcherApplication(create_backend_app)

        def counted(environ, start_response):
            self.requests += 1
            return application(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counted, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self):
        return f"http://127.0.0.1:{self._port}"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def aws_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def kms(aws_environment):
    """A running KMS-compatible server and a key made in it."""
    server = CountingMotoServer(free_port())
    server.start()
    client = boto3.client("kms", endpoint_url=server.url)
    server.key_id = client.create_key(Description="privacy_kit tests")["KeyMetadata"]["KeyId"]
    server.client = client
    yield server
    server.stop()


def kms_settings(kms, **extra):
    return override_settings(
        PRIVACY_KIT={
            "ENCRYPTION_KEYS": [TEST_KEY_PRIMARY],
            "BLIND_INDEX_KEY": TEST_BLIND_INDEX_KEY,
            "KEY_PROVIDER": "privacy_kit.keys.providers.AwsKmsKeyProvider",
            "KMS_KEY_ID": kms.key_id,
            "KMS_ENDPOINT_URL": kms.url,
            **extra,
        }
    )


def test_settings_provider_round_trip_and_binding_to_the_context():
    with override_settings(PRIVACY_KIT={"ENCRYPTION_KEYS": [TEST_KEY_PRIMARY]}):
        provider = SettingsKeyProvider()
        keys = [b"a" * 32, b"b" * 32]
        wrapped = provider.wrap(keys, ["subject 1", "subject 2"])
        assert all(key not in blob for key, blob in zip(keys, wrapped, strict=True))
        assert provider.unwrap(wrapped, ["subject 1", "subject 2"]) == keys
        with pytest.raises(DecryptionError):
            provider.unwrap(wrapped[:1], ["subject 2"])


def test_kms_provider_wraps_and_unwraps_through_the_server(kms):
    with kms_settings(kms):
        provider = AwsKmsKeyProvider()
        keys = [bytes([n]) * 32 for n in range(3)]
        wrapped = provider.wrap(keys, ["a", "b", "c"])
        assert all(key not in blob for key, blob in zip(keys, wrapped, strict=True))
        # A new provider (another process) has no intermediate key in memory: KMS must decrypt it.
        assert AwsKmsKeyProvider().unwrap(wrapped, ["a", "b", "c"]) == keys
        assert provider.key_id == kms.key_id


def test_kms_provider_refuses_a_wrapped_key_moved_to_another_subject(kms):
    with kms_settings(kms):
        wrapped = AwsKmsKeyProvider().wrap([b"k" * 32], ["privacy_kit.SubjectKey:1"])
        with pytest.raises(DecryptionError) as raised:
            AwsKmsKeyProvider().unwrap(wrapped, ["privacy_kit.SubjectKey:2"])
    assert kms.key_id in str(raised.value)


def test_kms_refuses_an_intermediate_key_under_another_encryption_context(kms):
    with kms_settings(kms):
        provider = AwsKmsKeyProvider()
        genuine = provider.wrap([b"k" * 32], ["s"])[0]
        # The same layout, but the intermediate key was generated for another purpose.
        other = kms.client.generate_data_key(KeyId=kms.key_id, KeySpec="AES_256", EncryptionContext={"app": "other"})
        blob = other["CiphertextBlob"]
        forged = bytes([1]) + len(blob).to_bytes(2, "big") + blob + genuine[-(12 + 48) :]
        requests = kms.requests
        with pytest.raises(DecryptionError) as raised:
            AwsKmsKeyProvider().unwrap([forged], ["s"])
        assert kms.requests == requests + 1  # KMS itself refused it
    assert "encryption context" in str(raised.value)


def test_kms_refuses_an_intermediate_key_of_another_kms_key(kms):
    # What a database writer would plant: a subject key they know, under a KMS key of theirs.
    attacker_key = kms.client.create_key(Description="not the shop's")["KeyMetadata"]["KeyId"]
    planted = kms.client.generate_data_key(
        KeyId=attacker_key, KeySpec="AES_256", EncryptionContext=AwsKmsKeyProvider.ENCRYPTION_CONTEXT
    )
    with kms_settings(kms):
        genuine = AwsKmsKeyProvider().wrap([b"k" * 32], ["s"])[0]
        blob = planted["CiphertextBlob"]
        forged = bytes([1]) + len(blob).to_bytes(2, "big") + blob + genuine[-(12 + 48) :]
        # Decrypt names KMS_KEY_ID: AWS answers IncorrectKeyException, moto AccessDeniedException.
        with pytest.raises((DecryptionError, KeyServiceError)):
            AwsKmsKeyProvider().unwrap([forged], ["s"])


@pytest.mark.django_db
def test_a_cold_lookup_of_50_subjects_costs_one_kms_request(kms):
    with kms_settings(kms):
        before = kms.requests
        created = keys_for(range(50), create=True)
        assert kms.requests == before + 1  # one GenerateDataKey for the intermediate key
        # Another process: no cached subject key, no intermediate key in memory.
        key_store.reset()
        before = kms.requests
        assert keys_for(range(50)) == created
        assert kms.requests == before + 1  # one Decrypt, not 50


@pytest.mark.django_db
def test_keys_created_by_three_processes_cost_one_kms_request_each_when_cold(kms):
    with kms_settings(kms):
        for start in (0, 10, 20):
            key_store.reset()
            keys_for(range(start, start + 10), create=True)
        key_store.reset()
        before = kms.requests
        assert len(keys_for(range(30))) == 30
        assert kms.requests == before + 3


@pytest.mark.django_db
def test_a_kms_that_refuses_gives_a_clear_error_and_writes_nothing(kms):
    # A key id the service does not know (moto does not enforce a disabled key's state; AWS does, alike).
    with kms_settings(kms, KMS_KEY_ID="alias/no-such-key"):
        with pytest.raises(KeyServiceError) as raised:
            keys_for([1], create=True)
    assert str(raised.value) == "AWS KMS refused generate_data_key with key alias/no-such-key: NotFoundException."
    assert not SubjectKey.objects.exists()


@pytest.mark.django_db
def test_a_stopped_kms_server_gives_a_clear_error_without_secrets_and_loses_nothing(kms):
    server = CountingMotoServer(free_port())
    server.start()
    with kms_settings(kms, KMS_ENDPOINT_URL=server.url):
        created = keys_for([1, 2], create=True)
    server.stop()
    with kms_settings(kms, KMS_ENDPOINT_URL=server.url):
        with pytest.raises(KeyServiceError) as raised:
            keys_for([1, 2])
        with pytest.raises(KeyServiceError):
            keys_for([3], create=True)
    message = str(raised.value)
    assert "could not be reached for decrypt" in message
    for secret in AWS_ENVIRONMENT.values():
        assert secret not in message
    assert not re.search(r"[A-Za-z0-9+/]{40,}", message)  # no key material, no ciphertext
    assert set(SubjectKey.objects.values_list("subject", flat=True)) == {"1", "2"}
    # The same keys open once a KMS answers again (moto's servers in one process share their keys).
    with kms_settings(kms):
        assert keys_for([1, 2]) == created


def test_the_kms_provider_needs_a_key_id(kms):
    with override_settings(PRIVACY_KIT={"KEY_PROVIDER": "privacy_kit.keys.providers.AwsKmsKeyProvider"}):
        with pytest.raises(ImproperlyConfigured, match="KMS_KEY_ID"):
            providers.key_provider()


def test_an_unimportable_provider_is_improperly_configured():
    with override_settings(PRIVACY_KIT={"KEY_PROVIDER": "shop.keys.NoSuchProvider"}):
        with pytest.raises(ImproperlyConfigured, match=r"shop\.keys\.NoSuchProvider"):
            providers.key_provider()


# The custom provider of docs/keys.md, run as it is written there.

DOCS = Path(BASE_DIR / "docs" / "keys.md")


@pytest.fixture
def docs_provider_module(monkeypatch):
    text = DOCS.read_text()
    source = re.search(r"<!-- custom provider -->\s*```python\n(.*?)```", text, re.S).group(1)
    module = types.ModuleType("shop_keys")
    exec(compile(source, str(DOCS), "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "shop_keys", module)
    monkeypatch.setenv("SHOP_KEY_WRAPPING_KEY", "Q2Fpcm8gc2hvcCB0ZXN0IGtleSAzMiBieXRlcyAhISE=")
    return module


@pytest.mark.django_db
def test_the_custom_provider_of_the_docs_works_as_a_key_provider(docs_provider_module):
    with override_settings(PRIVACY_KIT={"KEY_PROVIDER": "shop_keys.EnvironmentKeyProvider"}):
        created = keys_for([1, 2], create=True)
        key_store.reset()
        assert keys_for([1, 2]) == created
        assert SubjectKey.objects.get(subject="1").key_id == "shop-key-1"
        SubjectKey.objects.filter(subject="2").update(wrapped_key=SubjectKey.objects.get(subject="1").wrapped_key)
        key_store.reset()
        with pytest.raises(DecryptionError):
            keys_for([2])
