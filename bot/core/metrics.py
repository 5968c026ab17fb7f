"""Process-wide Prometheus counters, incremented where the work happens.

The counters live in their own :class:`prometheus_client.CollectorRegistry` (not the
library's global default), so tests and several apps in one process never collide on
registration; :mod:`bot.observability` serves them on ``/metrics`` beside the gauges it
reads from the database at scrape time. Label values are fixed, short vocabularies
(outcomes, route names), never addresses or subjects: a label per sender would let any
stranger grow our memory by mailing us.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MAIL_PROCESSED = Counter(
    "landkort_mail_processed", "Received mails processed, by what they were and what came "
    "of them.", ("kind", "outcome"), registry=REGISTRY)
MAIL_PROCESSING_FAILURES = Counter(
    "landkort_mail_processing_failures", "Processing attempts that failed with an error of "
    "ours (the mail is retried, then quarantined).", registry=REGISTRY)
MAIL_SENT = Counter(
    "landkort_mail_sent", "Mails the relay accepted.", registry=REGISTRY)
MAIL_SEND_FAILURES = Counter(
    "landkort_mail_send_failures", "Send attempts that did not end in acceptance: 'retry' "
    "(4xx, connection trouble) or 'failed' (5xx).", ("result",), registry=REGISTRY)
IMAP_FETCHED = Counter(
    "landkort_imap_fetched", "Mails fetched from the IMAP mailbox and stored.",
    registry=REGISTRY)
HTTP_REQUEST_SECONDS = Histogram(
    "landkort_http_request_duration_seconds", "Time to answer an HTTP request, by route "
    "name and status class.", ("route", "status"), registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

__all__ = ["HTTP_REQUEST_SECONDS", "IMAP_FETCHED", "MAIL_PROCESSED",
           "MAIL_PROCESSING_FAILURES", "MAIL_SENT", "MAIL_SEND_FAILURES", "REGISTRY"]
