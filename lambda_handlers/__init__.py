"""The AWS Lambda face: the spec's serverless deployment (deploy/template.yaml).

Three functions, each its own module with a ``handler(event, context)``:

* ``lambda_handlers.api.handler``: the REST API (the Litestar app of ``api``) through Mangum,
  behind an HTTP API (payload v2.0) with IAM authorisation;
* ``lambda_handlers.request_processor.handler``: an SQS batch, each record one job, run by the
  engine code of ``pao worker``, failures reported per record (``batchItemFailures``);
* ``lambda_handlers.catalog_processor.handler``: one catalog sync cycle per scheduled event.

``lambda_handlers.runtime`` holds what a container keeps between invocations;
``lambda_handlers.package`` is ``pao package lambda``, which builds the deployment artifact.
"""
