"""``aws_cloudtrail_sqs``: CloudTrail log files announced on an SQS queue, read from S3.

One run reads the queue until it is empty (or Splunk stops the input):

1. receive up to ``batch_size`` messages, hidden from other readers for
   ``visibility_timeout`` seconds (extended while a slow object is still being read);
2. parse each message (``sqs_messages.parse_message``: S3 notifications direct or through
   SNS, CloudTrail's own SNS notifications); test events, digest files and keys that are not
   CloudTrail logs are ignored (debug log), a body that is not a notification is left for the
   queue's redrive policy;
3. download the announced log files (a few at once), write every record of each file
   unchanged (``xml_stream.write_cloudtrail_log``: ``source=s3://bucket/key``, ``_time`` =
   ``eventTime``), flush;
4. delete the message only once every file it announces has been written. A file that cannot
   be read (access denied, corrupt gzip, not CloudTrail JSON) is logged with its bucket and
   key and its message is left in the queue: SQS hands it out again and, after the queue's
   ``maxReceiveCount``, moves it to the dead-letter queue.

Anyone allowed to send to the queue can name any bucket and key, so a notification is not
trusted: objects are read only from the allowed buckets (when the input lists them) and
only from buckets of the expected owner (``ExpectedBucketOwner``; by default the queue's
account), and a log is refused whole when one of its records has a ``recipientAccountId``
other than the account its key is filed under (``AWSLogs/<account>/``).  Such messages stay
for the dead-letter queue.  Sizes are capped: an object larger than the cap is refused
before it is downloaded when the notification or S3 gives its size, and decompression stops
at its cap (a gzip bomb); a file refused for its size will never be readable, so it is
logged and its message deleted rather than read again every visibility timeout.

Files written are marked in the KV store until their message is deleted, so a message that
comes back (the input was killed after writing, or one of its other files failed) does not
write the same file twice.

Several inputs, on several forwarders, may read the same queue: SQS gives each message to
one reader at a time, so together they deliver every file.

Python 3.9 to 3.13.
"""
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from trailwatch.ingest import aws_errors, sqs_messages
from trailwatch.ingest import cloudtrail_records as records_lib
from trailwatch.ingest import input_settings as settings_lib

INPUT_TYPE = "aws_cloudtrail_sqs"
SOURCETYPE = "aws:cloudtrail"
#: Long-poll wait of a receive; a receive that stays empty this long ends the run.
WAIT_SECONDS = 2
DOWNLOAD_THREADS = 4
#: A file mark older than SQS's longest retention (14 days) cannot belong to a live message.
MARK_TTL_SECONDS = 14 * 86400


MB = 1 << 20
#: Defaults of the size caps: CloudTrail's log files are a few MB compressed and rarely
#: 100 MB decompressed; a gzip bomb expands about 1000 times.
DEFAULT_MAX_OBJECT_MB = 64
DEFAULT_MAX_LOG_MB = 256


class Settings(object):
    def __init__(self, account, queue_url, region, batch_size, visibility_timeout,
                 allowed_buckets=(), bucket_owner=None, max_object_mb=DEFAULT_MAX_OBJECT_MB,
                 max_log_mb=DEFAULT_MAX_LOG_MB):
        self.account = account
        self.queue_url = queue_url
        self.region = region
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.queue_name = settings_lib.queue_name(queue_url)
        self.allowed_buckets = list(allowed_buckets)  # empty: any bucket of bucket_owner
        # Buckets must belong to this account (S3 refuses the read otherwise).
        self.bucket_owner = bucket_owner or settings_lib.queue_account(queue_url)
        self.max_object_bytes = max_object_mb * MB
        self.max_log_bytes = max_log_mb * MB

    @classmethod
    def parse(cls, params):
        return cls(
            settings_lib.required(params, "account", "AWS account"),
            settings_lib.queue_url(params, "queue_url"),
            settings_lib.region(settings_lib.required(params, "sqs_region", "Queue region"),
                                "Queue region"),
            settings_lib.integer(params, "batch_size", "Batch size", 10, 1, 10),
            settings_lib.integer(params, "visibility_timeout", "Visibility timeout", 300, 5, 43200),
            settings_lib.bucket_names(params, "allowed_buckets", "Allowed buckets"),
            settings_lib.account_id(params, "expected_bucket_owner", "Expected bucket owner"),
            settings_lib.integer(params, "max_object_mb", "Largest log object (MB)",
                                 DEFAULT_MAX_OBJECT_MB, 1, 1024),
            settings_lib.integer(params, "max_log_mb", "Largest decompressed log (MB)",
                                 DEFAULT_MAX_LOG_MB, 1, 4096),
        )

    def refusal(self, obj):
        """Why a notified object must not be read at all (a forged or misdirected
        notification), or None."""
        if self.allowed_buckets and obj.bucket not in self.allowed_buckets:
            return ("bucket %s is not one of the input's allowed buckets (%s)"
                    % (obj.bucket, ", ".join(self.allowed_buckets)))
        return None

    def check_account(self, account):
        from trailwatch.aws.session import partition_of_region

        if partition_of_region(self.region) != account.partition:
            raise settings_lib.InputSettingsError(
                "Queue region %s is not in partition %s of AWS account '%s'."
                % (self.region, account.partition, account.name))


def mark_name(bucket, key):
    digest = hashlib.sha1(("%s/%s" % (bucket, key)).encode("utf-8")).hexdigest()
    return "file_%s" % digest


class VisibilityKeeper(object):
    """Extends the visibility timeout of messages still being worked on, so a slow download
    or a huge log is not handed to another reader halfway through."""

    def __init__(self, sqs, queue_url, timeout, logger, clock=time.monotonic):
        self.sqs = sqs
        self.queue_url = queue_url
        self.timeout = timeout
        self.logger = logger
        self.clock = clock
        self._held = {}  # message id -> [receipt handle, time it was last made invisible]
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self.extensions = 0

    def hold(self, messages):
        now = self.clock()
        with self._lock:
            for message in messages:
                self._held[message["MessageId"]] = [message["ReceiptHandle"], now]

    def release(self, message):
        with self._lock:
            self._held.pop(message["MessageId"], None)

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="sqs-visibility")
        self._thread.daemon = True
        self._thread.start()

    def stop(self):
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self):
        period = max(0.5, self.timeout / 4.0)
        while not self._wake.wait(period):
            self.extend_due()

    def extend_due(self):
        now = self.clock()
        with self._lock:
            due = [(mid, held[0]) for mid, held in self._held.items()
                   if now - held[1] >= self.timeout / 2.0]
        for start in range(0, len(due), 10):
            chunk = due[start:start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": self.timeout}
                       for i, (_mid, handle) in enumerate(chunk)]
            try:
                answer = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # noqa: BLE001 - the worst case is a duplicate read
                self.logger.warning("Could not extend the visibility of %d message(s): %s",
                                    len(entries), aws_errors.error_code(exc))
                continue
            failed = {f.get("Id") for f in answer.get("Failed") or ()}
            with self._lock:
                for i, (mid, _handle) in enumerate(chunk):
                    if str(i) not in failed and mid in self._held:
                        self._held[mid][1] = now
                        self.extensions += 1
            if failed:
                self.logger.warning("SQS refused to extend the visibility of %d message(s).",
                                    len(failed))
        if due:
            self.logger.debug("Extended the visibility of %d message(s) still being read.", len(due))


class QueueReader(object):
    def __init__(self, ctx, settings, sqs, s3_client, wait_seconds=WAIT_SECONDS):
        self.ctx = ctx
        self.settings = settings
        self.sqs = sqs
        self.s3_client = s3_client  # region (or None) -> boto3 S3 client; main thread only
        self.wait_seconds = wait_seconds
        self.files = 0
        self.events = 0
        self.bytes = 0
        self.deleted = 0
        self.left = 0
        self.failed_files = 0
        self.receive_error = None

    # ------------------------------------------------------------------ queue
    def receive(self):
        answer = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=self.settings.batch_size,
            VisibilityTimeout=self.settings.visibility_timeout,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return answer.get("Messages") or []

    def delete(self, message):
        try:
            self.sqs.delete_message(QueueUrl=self.settings.queue_url,
                                    ReceiptHandle=message["ReceiptHandle"])
            self.deleted += 1
            return True
        except Exception as exc:  # noqa: BLE001 - it comes back; the file marks stop duplicates
            self.ctx.logger.warning(
                "Could not delete message %s from queue %s after writing its logs: %s It will "
                "be received again; its files are marked as written and will not be written twice.",
                message.get("MessageId"), self.settings.queue_name,
                aws_errors.describe(exc, self.ctx.account_name, "sqs:DeleteMessage"))
            return False

    # ------------------------------------------------------------------ run
    def run(self):
        ctx = self.ctx
        keeper = VisibilityKeeper(self.sqs, self.settings.queue_url,
                                  self.settings.visibility_timeout, ctx.logger)
        keeper.start()
        pool = ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS)
        started = time.time()
        try:
            while not ctx.stop.is_set():
                try:
                    messages = self.receive()
                except Exception as exc:  # noqa: BLE001 - said in words, the run ends
                    self.receive_error = exc
                    ctx.logger.error("%s", aws_errors.describe(
                        exc, ctx.account_name, "sqs:ReceiveMessage",
                        "on queue %s" % self.settings.queue_url))
                    break
                if not messages:
                    break
                keeper.hold(messages)
                self.process_batch(messages, keeper, pool)
        finally:
            keeper.stop()
            pool.shutdown(wait=True)
        ctx.logger.info(
            "Queue %s (account %s): %d log files, %d events, %.1f MB written; %d messages "
            "deleted, %d left in the queue for retry or its dead-letter queue; %.1f s.",
            self.settings.queue_name, ctx.account_name, self.files, self.events,
            self.bytes / 1048576.0, self.deleted, self.left, time.time() - started)

    def process_batch(self, messages, keeper, pool):
        ctx = self.ctx
        now_ms = ctx.clock() * 1000.0
        oldest = max((now_ms - float(m.get("Attributes", {}).get("SentTimestamp") or now_ms))
                     for m in messages) / 1000.0
        plans = []
        for message in messages:
            parsed = sqs_messages.parse_message(message.get("Body") or "")
            for item in parsed.ignored:
                where = (" s3://%s/%s" % (item.bucket, item.key)) if item.key else ""
                ctx.logger.debug("Message %s: ignored %s%s.", message.get("MessageId"),
                                 item.reason, where)
            if not parsed.understood:
                ctx.logger.warning(
                    "Message %s on queue %s is not an S3, SNS or CloudTrail notification (%s); it "
                    "is left in the queue for its dead-letter queue.",
                    message.get("MessageId"), self.settings.queue_name, parsed.error)
                keeper.release(message)
                self.left += 1
                continue
            downloads = []
            refused = False
            for obj in parsed.objects:
                reason = self.settings.refusal(obj)
                if reason is not None:
                    refused = True
                    ctx.logger.error(
                        "Refused s3://%s/%s announced by message %s: %s. Nothing of it was read; "
                        "the message stays in the queue for its dead-letter queue (add the "
                        "bucket to Allowed buckets if it is yours).", obj.bucket, obj.key,
                        message.get("MessageId"), reason)
                    continue
                client = self.s3_client(obj.region)
                downloads.append((obj, pool.submit(_download, client, obj, self.settings)))
            plans.append((message, downloads, refused))
        files_before, events_before = self.files, self.events
        for message, downloads, refused in plans:
            if ctx.stop.is_set():
                keeper.release(message)
                self.left += 1
                continue
            receive_count = int((message.get("Attributes") or {}).get("ApproximateReceiveCount") or 1)
            complete = not refused
            for obj, future in downloads:
                if not self.read_file(message, obj, future, receive_count):
                    complete = False
            keeper.release(message)
            if not complete:
                self.left += 1
                continue
            if self.delete(message):
                for obj, _future in downloads:
                    ctx.checkpoints.delete(mark_name(obj.bucket, obj.key))
        ctx.logger.info(
            "Queue %s: batch of %d message(s), %d log file(s), %d events; oldest message "
            "waited %.0f s in the queue.", self.settings.queue_name, len(messages),
            self.files - files_before, self.events - events_before, oldest)

    def read_file(self, message, obj, future, receive_count):
        """Write one log file; True when it is in Splunk (now or on an earlier delivery)."""
        ctx = self.ctx
        where = "s3://%s/%s" % (obj.bucket, obj.key)
        mark = mark_name(obj.bucket, obj.key)
        if receive_count > 1:
            done = ctx.checkpoints.get(mark)
            if isinstance(done, dict) and ctx.clock() - float(done.get("t") or 0) < MARK_TTL_SECONDS:
                future.cancel()
                ctx.logger.info("%s was already %s (message %s received %d times); not "
                                "read again.", where,
                                "refused" if done.get("refused") else "written",
                                message.get("MessageId"), receive_count)
                return True
        try:
            data = future.result()
        except ObjectTooLarge as exc:
            return self.refuse_for_good(message, obj, mark, str(exc), "Largest log object (MB)")
        except Exception as exc:  # noqa: BLE001 - said in words; the message stays queued
            self.failed_files += 1
            owner = ""
            if aws_errors.classify(exc) == aws_errors.PERMISSION:
                # S3 answers 403 AccessDenied to a read naming another ExpectedBucketOwner.
                owner = (" S3 also refuses the read when the bucket is not owned by account %s "
                         "(the input's Expected bucket owner)." % self.settings.bucket_owner)
            ctx.logger.error("%s%s Message %s stays in the queue for retry or its dead-letter "
                             "queue.", aws_errors.describe(exc, ctx.account_name, "s3:GetObject",
                                                           "on " + where), owner,
                             message.get("MessageId"))
            return False
        try:
            result = ctx.write(lambda writer: writer.write_cloudtrail_log(
                data, where, SOURCETYPE, index=ctx.index, host=ctx.host,
                max_size=self.settings.max_log_bytes, account=sqs_messages.key_account(obj.key)))
        except records_lib.LogTooLarge as exc:
            return self.refuse_for_good(message, obj, mark, str(exc),
                                        "Largest decompressed log (MB)")
        except records_lib.CloudTrailFormatError as exc:
            self.failed_files += 1
            ctx.logger.error(
                "Log file %s (bucket %s, key %s) cannot be read: %s (%s). Nothing of it was "
                "written; message %s stays in the queue for retry or its dead-letter queue.",
                where, obj.bucket, obj.key, exc, exc.reason, message.get("MessageId"))
            return False
        # Flushed: the file is Splunk's. Mark it before the message is deleted.
        ctx.checkpoints.save(mark, {"t": int(ctx.clock()), "events": result.written,
                                    "source": where})
        self.files += 1
        self.events += result.written
        self.bytes += result.size
        ctx.ingested(SOURCETYPE, result.written, where)
        for skipped in result.skipped:
            ctx.logger.warning(
                "Record %d (eventID %s) of %s was not written: %s.", skipped.index,
                skipped.event_id or "unknown", where, skipped.reason)
        if result.repaired:
            ctx.logger.warning("%d character(s) of %s were not valid in XML and were written "
                               "escaped.", result.repaired, where)
        ctx.logger.debug("Wrote %d events of %s (%d bytes).", result.written, where, result.size)
        return True


    def refuse_for_good(self, message, obj, mark, reason, setting):
        """A log too large to read: reading it again cannot succeed, so it counts as done
        (marked, so a redelivered message skips it) and its message is deleted once its
        other files are written, instead of being read again every visibility timeout."""
        ctx = self.ctx
        self.failed_files += 1
        ctx.logger.error(
            "Refused log file s3://%s/%s (message %s): %s. Nothing of it was written and it "
            "will not be read again: the message is deleted. If the file is genuine, raise "
            "'%s' on the input and send its notification again.", obj.bucket, obj.key,
            message.get("MessageId"), reason, setting)
        ctx.checkpoints.save(mark, {"t": int(ctx.clock()), "events": 0, "refused": reason,
                                    "source": "s3://%s/%s" % (obj.bucket, obj.key)})
        return True


class ObjectTooLarge(Exception):
    """A log object larger than the input's cap (said by the notification or by S3)."""


def _download(client, obj, settings):
    """The object's bytes, read from a bucket of ``settings.bucket_owner`` only
    (``ExpectedBucketOwner``: S3 answers 403 for a bucket of another account), and never
    more than ``settings.max_object_bytes``: refused before the request when the
    notification gives a larger size, else when S3's Content-Length says so, else after
    reading one byte more than the cap."""
    cap = settings.max_object_bytes
    if obj.size is not None and obj.size > cap:
        raise ObjectTooLarge("the notification gives its size as %d bytes, more than the cap "
                             "of %d" % (obj.size, cap))
    answer = client.get_object(Bucket=obj.bucket, Key=obj.key,
                               ExpectedBucketOwner=settings.bucket_owner)
    body = answer["Body"]
    try:
        length = answer.get("ContentLength")
        if isinstance(length, int) and length > cap:
            raise ObjectTooLarge("S3 gives its size as %d bytes, more than the cap of %d"
                                 % (length, cap))
        data = body.read(cap + 1)
        if len(data) > cap:
            raise ObjectTooLarge("it is larger than the cap of %d bytes" % cap)
        return data
    finally:
        body.close()


def run(ctx, settings):
    sqs = ctx.session.client("sqs", region=settings.region)
    clients = {}

    def s3_client(region):
        region = region or settings.region
        if region not in clients:
            try:
                clients[region] = ctx.session.client("s3", region=region)
            except Exception:  # noqa: BLE001 - a region outside the partition: S3 redirects
                clients[region] = s3_client(settings.region)
        return clients[region]

    reader = QueueReader(ctx, settings, sqs, s3_client)
    reader.run()
    return reader
