"""Deadline alerts: each threshold once, re-armed when the due time moves, once however many runs race.

The breach clock runs 72 hours from ``aware_at``; its alerts go out 24 and 6 hours
before, and once overdue. The tests move ``now`` instead of waiting. The races run
on PostgreSQL: two threads with their own connections, then a real Celery worker
and two beat processes over a Redis server the test starts.
"""

from __future__ import annotations

import datetime
import email
import os
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import django
import pytest
from django.core import mail
from django.core.checks import run_checks
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections
from django.utils import timezone

from privacy_kit.celery import DEADLINES_TASK, beat_schedule
from privacy_kit.checks import W039_MSG
from privacy_kit.deadlines import clocks, send_deadline_alerts
from privacy_kit.deadlines.clock import Clock
from privacy_kit.models import Breach, DeadlineAlert
from privacy_kit.signals import deadline_alert
from tests.celery_processes import ROOT, RedisServer, Worker, wait_until

ON_POSTGRES = os.environ.get("TEST_DATABASE", "sqlite") == "postgres"
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="real concurrent transactions and worker processes: PostgreSQL only"
)
needs_redis_server = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("redis-cli")),
    reason="redis-server and redis-cli start the test's own Redis",
)
ADMIN = "privacy@shop.example"
ADMINS = [ADMIN] if django.VERSION >= (6,) else [("Privacy", ADMIN)]
HOUR = datetime.timedelta(hours=1)
# Personal data a breach record may hold: none of it goes into an alert.
CONTACT = {"contact_name": "Noura Al-Harbi", "contact_email": "noura@shop.example", "contact_phone": "+966 50 123 4567"}
TITLE = "Customer list of Reem Al-Saud leaked"


@pytest.fixture(autouse=True)
def admins(settings):
    settings.ADMINS = ADMINS


def breach(aware_at: datetime.datetime, **fields) -> Breach:
    return Breach.objects.create(
        title=TITLE, nature="A copy of the orders table was shared.", detected_at=aware_at, aware_at=aware_at, **fields
    )


def sent(now: datetime.datetime) -> list[tuple[int, str]]:
    return [(alert.record.pk, alert.alert.threshold) for alert in send_deadline_alerts(now=now)]


# -- the thresholds ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_breach_gets_each_threshold_once_as_its_72_hours_run_out():
    aware = timezone.now()
    record = breach(aware)

    assert sent(aware + 47 * HOUR) == []  # 25 hours left
    assert sent(aware + 48 * HOUR) == [(record.pk, "24h")]
    assert sent(aware + 49 * HOUR) == []
    assert sent(aware + 66 * HOUR) == [(record.pk, "6h")]
    assert sent(aware + 67 * HOUR) == []
    assert sent(aware + 72 * HOUR) == [(record.pk, "overdue")]
    assert sent(aware + 100 * HOUR) == []
    assert list(DeadlineAlert.objects.order_by("pk").values_list("threshold", flat=True)) == ["24h", "6h", "overdue"]
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_a_breach_recorded_late_gets_only_the_most_urgent_alert_it_has_reached():
    aware = timezone.now() - 70 * HOUR
    record = breach(aware)

    assert sent(timezone.now()) == [(record.pk, "6h")]
    assert sent(timezone.now()) == []


@pytest.mark.django_db
def test_a_breach_the_authority_was_told_of_or_closed_gets_no_alert():
    aware = timezone.now() - 80 * HOUR
    breach(aware, notified_authority_at=aware + HOUR, status=Breach.Status.NOTIFIED)
    breach(aware, status=Breach.Status.CLOSED)

    assert sent(timezone.now()) == []
    assert not mail.outbox


@pytest.mark.django_db
def test_a_moved_due_time_re_arms_the_alerts():
    aware = timezone.now()
    record = breach(aware)
    assert sent(aware + 48 * HOUR) == [(record.pk, "24h")]

    # The shop finds it became aware later than it recorded: the 72 hours run from the new time.
    Breach.objects.filter(pk=record.pk).update(aware_at=aware + 10 * HOUR)

    assert sent(aware + 49 * HOUR) == []  # 33 hours left now
    assert sent(aware + 58 * HOUR) == [(record.pk, "24h")]
    assert DeadlineAlert.objects.filter(record_id=record.pk, threshold="24h").count() == 2


@pytest.mark.django_db
def test_the_alert_row_is_the_guard_a_second_run_finds_it_and_sends_nothing():
    aware = timezone.now() - 50 * HOUR
    record = breach(aware)
    [first] = send_deadline_alerts()

    alert = DeadlineAlert.objects.get()
    assert (alert.clock, alert.record_id, alert.threshold, alert.due_at) == ("breach", record.pk, "24h", record.due_at)
    assert first.alert == alert
    assert send_deadline_alerts() == []


@pytest.mark.django_db
def test_the_signal_says_which_record_threshold_and_time_left():
    aware = timezone.now() - 67 * HOUR
    record = breach(aware)
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    deadline_alert.connect(receiver, dispatch_uid="tests.deadline_alert")
    try:
        now = timezone.now()
        send_deadline_alerts(now=now)
    finally:
        deadline_alert.disconnect(dispatch_uid="tests.deadline_alert")

    [(sender, arguments)] = received
    assert sender is Breach
    assert arguments["record"] == record and arguments["clock"] == "breach" and arguments["threshold"] == "6h"
    assert arguments["due_at"] == record.due_at
    assert arguments["left"] == record.due_at - now


@pytest.mark.django_db
def test_a_receiver_that_fails_rolls_the_alert_back_and_the_next_run_sends_it():
    breach(timezone.now() - 50 * HOUR)

    def failing(sender, **kwargs):
        raise RuntimeError("receiver down")

    deadline_alert.connect(failing, dispatch_uid="tests.failing")
    try:
        with pytest.raises(RuntimeError):
            send_deadline_alerts()
    finally:
        deadline_alert.disconnect(dispatch_uid="tests.failing")
    assert not DeadlineAlert.objects.exists()

    assert len(send_deadline_alerts()) == 1


# -- the mail to ADMINS -------------------------------------------------------------


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses the connection."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def use_mail_backend(settings, backend: str) -> None:
    # Django 6.1 reads MAILERS (and warns about EMAIL_BACKEND); 5.2 reads EMAIL_BACKEND.
    if hasattr(settings, "MAILERS"):
        settings.MAILERS = {"default": {"BACKEND": backend}}
    else:
        settings.EMAIL_BACKEND = backend


@pytest.fixture
def mail_server_down(settings):
    use_mail_backend(settings, f"{__name__}.RefusingBackend")


@pytest.mark.django_db
def test_a_mail_that_cannot_go_rolls_the_alert_back_and_the_next_run_sends_it(mail_server_down, settings, caplog):
    record = breach(timezone.now() - 50 * HOUR)

    assert send_deadline_alerts() == []
    assert not DeadlineAlert.objects.exists()
    assert f"24h breach #{record.pk}" in caplog.text

    use_mail_backend(settings, "django.core.mail.backends.locmem.EmailBackend")
    assert [sent.alert.threshold for sent in send_deadline_alerts()] == ["24h"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_mail_to_admins_says_the_breach_number_and_hours_left_and_nothing_personal():
    aware = timezone.now()
    record = breach(aware, **CONTACT)
    send_deadline_alerts(now=aware + 66 * HOUR + datetime.timedelta(minutes=30))

    [message] = mail.outbox
    assert message.to == [ADMIN]
    assert message.subject.endswith(f"Due in 6 hours: breach #{record.pk}")
    due = f"{timezone.localtime(record.due_at):%Y-%m-%d %H:%M %z}"
    assert f"breach #{record.pk} is due at {due}: 6 hours left." in message.body
    assert "72 hours" in message.body
    for personal in [TITLE, "Reem", *CONTACT.values()]:
        assert personal not in message.subject and personal not in message.body


@pytest.mark.django_db
def test_the_overdue_mail_says_how_late():
    aware = timezone.now()
    record = breach(aware)
    send_deadline_alerts(now=aware + 75 * HOUR + datetime.timedelta(minutes=10))

    [message] = mail.outbox
    assert message.subject.endswith(f"Overdue: breach #{record.pk}")
    assert "it is overdue by 3 hours." in message.body


@pytest.mark.django_db
def test_the_mail_in_arabic(settings):
    settings.LANGUAGE_CODE = "ar"
    aware = timezone.now()
    record = breach(aware)
    from django.utils import translation

    with translation.override("ar"):
        send_deadline_alerts(now=aware + 48 * HOUR)

    [message] = mail.outbox
    assert f"#{record.pk}" in message.subject
    assert "24 ساعة" in message.body
    assert "72 ساعة" in message.body


# -- two runs at once (real transactions, on SQLite and PostgreSQL) --------------------------


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_alert_once(monkeypatch):
    record = breach(timezone.now() - 67 * HOUR)
    # Both runs have read the alerts already sent (none) before either inserts its own.
    both_read = threading.Barrier(2, timeout=30)
    real = Clock.threshold_reached

    def after_both_read(self, due_at, now):
        both_read.wait()
        return real(self, due_at, now)

    monkeypatch.setattr(Clock, "threshold_reached", after_both_read)
    results: list[list] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(send_deadline_alerts())
        except BaseException as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(len(result) for result in results) == [0, 1]
    assert list(DeadlineAlert.objects.values_list("record_id", "threshold")) == [(record.pk, "6h")]
    assert len(mail.outbox) == 1


# -- through a real worker and two beat processes over Redis (PostgreSQL) ---------------


@pytest.fixture
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


class Beat:
    """``celery beat`` of tests.beat_app (the deadline task every second), in its own process group."""

    def __init__(self, name: str, directory: Path, env: dict[str, str]) -> None:
        self.pidfile = directory / f"{name}.pid"
        self.logfile = directory / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.beat_app", "beat",
            f"--schedule={directory / name}-schedule", f"--pidfile={self.pidfile}",
            f"--logfile={self.logfile}", "--loglevel=INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def stop(self) -> None:
        Worker.stop(self)  # type: ignore[arg-type]  (the same: its process group, by the pid it started)


@needs_postgres
@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_a_worker_fed_by_two_beats_sends_each_alert_once(redis_server, tmp_path, layla):
    now = timezone.now()
    asked = request_of(layla, now - 24 * DAY)  # 6 days left: the 7-day alert
    soon = breach(now - 50 * HOUR)  # 22 hours left: the 24-hour alert
    late = breach(now - 73 * HOUR)  # overdue
    breach(now - HOUR)  # 71 hours left: nothing yet
    queue = f"deadline-tests-{uuid.uuid4().hex[:12]}"
    mails = tmp_path / "mail"
    mails.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PRIVACY_KIT_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "REDIS_URL": redis_server.url,
        "PRIVACY_KIT_TEST_WORKER": "1",
        "PRIVACY_KIT_TEST_QUEUE": queue,
        "PRIVACY_KIT_TEST_MAIL_DIR": str(mails),
        "PRIVACY_KIT_TEST_ADMIN": ADMIN,
    }
    worker = Worker(f"w-{queue}", tmp_path, env, "prefork", 2)
    beats: list[Beat] = []
    try:
        worker.wait_ready()
        beats = [Beat(f"beat{number}", tmp_path, env) for number in (1, 2)]
        # Two beats each send the task every second, to a worker with two processes: runs overlap.
        assert wait_until(lambda: len(worker.succeeded(DEADLINES_TASK)) >= 8, timeout=60), worker.log()
    finally:
        for beat in beats:
            beat.stop()
        worker.stop()

    assert sorted(DeadlineAlert.objects.values_list("clock", "record_id", "threshold")) == sorted(
        [("breach", soon.pk, "24h"), ("breach", late.pk, "overdue"), ("request", asked.pk, "7d")]
    )
    # The file backend writes one file per connection: count the messages in them.
    subjects = sorted(
        str(message["Subject"]) for path in mails.iterdir() for message in split_messages(path.read_text())
    )
    assert subjects == sorted(
        [
            f"[Django] Due in 22 hours: breach #{soon.pk}",
            f"[Django] Overdue: breach #{late.pk}",
            f"[Django] Due in 6 days: Request #{asked.pk} (erasure)",
        ]
    )


def split_messages(text: str) -> list[email.message.Message]:
    """Return the messages the file backend wrote, separated by a line of dashes."""
    return [email.message_from_string(part.strip()) for part in text.split("-" * 79) if part.strip()]


# -- the beat schedule and its check -----------------------------------------------------


def test_the_beat_schedule_runs_the_deadline_alerts():
    entry = beat_schedule()[DEADLINES_TASK]
    assert entry["task"] == DEADLINES_TASK


def test_a_beat_schedule_without_the_deadline_alerts_is_warned_about(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        name: entry for name, entry in beat_schedule().items() if entry["task"] != DEADLINES_TASK
    }

    found = [message for message in run_checks() if message.id == "privacy_kit.W039"]

    assert [message.msg for message in found] == [W039_MSG]


def test_the_default_beat_schedule_raises_no_w039(settings):
    settings.CELERY_BEAT_SCHEDULE = beat_schedule()

    assert not [message for message in run_checks() if message.id == "privacy_kit.W039"]


# -- data-subject requests: 7 days, 1 day, overdue; an extension re-arms ----------------

DAY = datetime.timedelta(days=1)


@pytest.fixture
def layla(django_user_model):
    return django_user_model.objects.create_user("layla", email="layla@example.sa", password="pw-layla-1")


def request_of(subject, received_at):
    from privacy_kit.models import DataRequest
    from privacy_kit.requests import open_request

    return open_request(
        subject, kind=DataRequest.Kind.ERASURE, channel=DataRequest.Channel.MAIL, received_at=received_at
    )


def admin_mail():
    return [message for message in mail.outbox if message.to == [ADMIN]]


@pytest.mark.django_db
def test_a_request_gets_each_threshold_once_as_its_30_days_run_out(layla):
    received = timezone.now()
    record = request_of(layla, received)

    assert sent(received + 22 * DAY) == []  # 8 days left
    assert sent(received + 23 * DAY) == [(record.pk, "7d")]
    assert sent(received + 24 * DAY) == []
    assert sent(received + 29 * DAY) == [(record.pk, "1d")]
    assert sent(received + 29 * DAY + HOUR) == []
    assert sent(received + 30 * DAY) == [(record.pk, "overdue")]
    assert sent(received + 40 * DAY) == []
    assert len(admin_mail()) == 3


@pytest.mark.django_db(transaction=True)
def test_an_extension_re_arms_the_alerts_of_a_request(layla):
    from privacy_kit.requests import extend

    received = timezone.now() - 23 * DAY
    record = request_of(layla, received)
    assert sent(timezone.now()) == [(record.pk, "7d")]

    extend(record, until=record.due_at + 20 * DAY, reason="The order history is in the archive.")

    assert sent(timezone.now()) == []  # 27 days left now
    assert sent(timezone.now() + 20 * DAY) == [(record.pk, "7d")]
    assert sent(timezone.now() + 27 * DAY) == [(record.pk, "overdue")]
    assert sorted(DeadlineAlert.objects.filter(clock="request").values_list("threshold", flat=True)) == [
        "7d",
        "7d",
        "overdue",
    ]


@pytest.mark.django_db
def test_a_request_answered_or_refused_gets_no_alert(layla):
    from privacy_kit.requests import refuse

    record = request_of(layla, timezone.now() - 29 * DAY)
    refuse(record, reason=record.RefusalReason.values[0])

    assert sent(timezone.now() + 10 * DAY) == []


@pytest.mark.django_db
def test_the_mail_about_a_request_says_its_number_kind_and_days_left_and_nothing_of_its_subject(layla):
    received = timezone.now()
    record = request_of(layla, received)
    send_deadline_alerts(now=received + 23 * DAY + HOUR)

    [message] = admin_mail()
    assert message.subject.endswith(f"Due in 7 days: Request #{record.pk} (erasure)")
    assert "7 days left." in message.body and "30 days" in message.body
    for personal in ["layla", "example.sa"]:
        assert personal not in message.subject and personal not in message.body


def test_the_request_clock_is_listed_first():
    assert [clock.name for clock in clocks()] == ["request", "breach"]


# -- the alerts' own retention -----------------------------------------------------------


@pytest.mark.django_db
def test_the_alerts_are_kept_five_years_after_they_were_sent_then_purged():
    from privacy_kit import registry
    from privacy_kit.retention import purge_policy

    retention = registry.get("privacy_kit.DeadlineAlert").retention
    assert (retention.date_field, retention.after_days, retention.action) == ("sent_at", "closed_records", "delete")
    now = timezone.now()
    due = now + HOUR
    alert = {"clock": "breach", "threshold": "6h", "due_at": due}
    old = DeadlineAlert.objects.create(record_id=1, sent_at=now - 1828 * DAY, **alert)
    recent = DeadlineAlert.objects.create(record_id=2, sent_at=now - 1826 * DAY, **alert)

    assert purge_policy("privacy_kit.DeadlineAlert", now=now).deleted == 1
    assert list(DeadlineAlert.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not DeadlineAlert.objects.filter(pk=old.pk).exists()
