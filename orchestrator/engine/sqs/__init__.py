"""The SQS queue backend (this package): PostgreSQL keeps every job, SQS decides who receives which job when.

Settings (``orchestrator.settings.EngineSettings``, read from the environment at start-up):
``PAO_QUEUE_BACKEND=sqs``, ``SQS_QUEUE_URL``, ``SQS_DEAD_LETTER_QUEUE_URL`` (drained when set),
``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL_SQS`` (an SQS-compatible server
or VPC endpoint), ``PAO_JOB_LEASE_SECONDS`` (the visibility timeout of a receive). Credentials
come from boto3's default chain (instance role, profile) unless given to ``sqs_client``.

How a job travels:

* ``enqueue`` writes the ``jobs`` row on the caller's connection, exactly as PgQueue does. The
  connections of an SQS deployment carry ``pao.queue_outbox=on`` (``Database.open(...,
  queue_outbox=True)``), so a trigger adds an ``outbox`` row in the same transaction.
* ``OutboxRelay`` sends unsent outbox rows (batches of 10) and marks them sent. A crash between
  commit and send loses nothing (the row stays unsent); a crash between send and mark sends
  twice, and the second message finds its job held or finished and is dropped. A job due more
  than 15 minutes ahead (SQS's longest delay) waits in the outbox rather than being received and
  put back, which would count receives towards the dead-letter queue.
* ``SqsQueue.claim`` receives a message ``{"job_id", "kind"}`` and leases the job row (its
  ``locked_by`` names the worker, the message and its receipt handle), so ``still_held`` and
  ``complete`` inside the runner's transactions work exactly as with PgQueue. A message whose
  job is finished, or that duplicates the delivery holding the job, is deleted and skipped; the
  very message of a job whose table lease is live (its visibility ran out first: a heartbeat
  could not reach SQS) is put back out of sight until the lease would end, never run twice.
* ``heartbeat`` extends the table's lease, which is the lease, and the message's visibility;
  SQS failing there only leaves the visibility as it was.
* ``OutboxReconciler`` (``orchestrator.engine.reconciler``) writes a new outbox row for a job
  due too long with no message on its way (a purged or recreated queue), with bounded delay.
* While SQS does not answer, every caller backs off and the outage is one log line when it
  starts and one when it ends (``orchestrator.engine.reachability``).
* ``complete`` without a connection also deletes the message once the row is finished; a lost
  delete only redelivers a finished job, which is then dropped.
* ``retry_later`` puts the row back and the message out of sight for the delay; after the last
  receive it dead-letters the job, as PgQueue does. A worker that dies holding a job lets its
  message come back; after ``maxReceiveCount`` (3) receives SQS moves it to the dead-letter
  queue, where ``DeadLetterDrain`` dead-letters the row and fails its request, unless the row
  still has receives left: a ``run-action`` job's budget counts per action (``jobs.max_receives``
  grows when it goes on with the next action), while SQS counts receives per message, so a job
  that moved on is sent again as a new message instead (``orchestrator.engine.dead_letters``).

Operations: ``provision_queues`` creates (or finds) the queue and its dead-letter queue with the
spec's attributes (``pao worker --create-queues``, ``pao queues create``); the relay also prunes
sent outbox rows past ``PAO_RETENTION_OUTBOX_HOURS``; ``SqsQueueStats`` reads SQS's approximate
message counts for the metrics, cached, and never raises (an unreachable SQS leaves the last
counts, which then age, and counts an error).

Modules: ``client`` (the boto3 client, the one call wrapper and its errors), ``provisioning``
(creating or checking the queues), ``stats`` (SQS's message counts for the metrics), ``queue``
(``SqsQueue``, the queue contract), ``relay`` (the outbox relay and the delivery tasks) and
``dead_letters`` (draining the dead-letter queue, through the shared dead-letter path).

boto3 is synchronous: every call runs in a thread; timeouts and retries live in ``SqsPolicy``.
"""
