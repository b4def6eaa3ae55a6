"""Benchmark: `pao catalog validate` on 1,000 generated catalog files vs check-jsonschema.

Both run as the commands a catalog repository's CI would run, on the same files and the same
schema, in this one run; the figure that matters is their ratio. check-jsonschema only checks
the schema, while `pao catalog validate` also runs every semantic and template check.

    python3 -m bench.catalog_validate [--files 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "catalog-schema" / "catalog-item.schema.json"

ITEM = """\
apiVersion: pao/v1
kind: CatalogItem
metadata:
  id: generated-service-{n}
  name: Generated service {n}
  description: A generated catalog item used to measure validation speed.
  version: 1.{n}.0
  category: category-{category}
  tags: [generated, bench]
  owner: {{team: team-{team}, contact: team-{team}@example.com, jiraProject: PLAT}}
  sla: {{responseTime: 4h, fulfillmentTime: 2d}}
presentation:
  form:
    groups:
      - id: basic
        name: Basic configuration
        fields:
          - id: instanceName
            name: Instance name
            type: string
            required: true
            placeholder: orders-db
            validation: {{pattern: "^[a-z][a-z0-9-]{{2,28}}[a-z0-9]$", message: "3-30 chars"}}
          - {{id: size, name: Size, type: select, enum: [small, medium, large], default: small}}
          - {{id: replicas, name: Replicas, type: number, default: 1, validation: {{min: 1, max: 9}}}}
          - {{id: enableEncryption, name: Encryption, type: boolean, default: false}}
          - id: encryptionKey
            name: Encryption key
            type: password
            conditional: {{dependsOn: enableEncryption, condition: equals, value: true}}
      - id: extra
        name: Extra
        fields:
          - {{id: zones, name: Zones, type: multiselect, enum: [a, b, c], default: [a]}}
          - {{id: expires, name: Expires, type: date, validation: {{minDate: "2026-01-01"}}}}
          - {{id: notes, name: Notes, type: textarea, validation: {{maxLength: 2000}}}}
fulfillment:
  actions:
    - id: provision
      type: terraform
      config:
        workspace: "svc-{{{{fields.instanceName}}}}"
        variables: {{size: "{{{{fields.size}}}}", replicas: "{{{{fields.replicas}}}}"}}
      cleanup: {{instructions: "Destroy workspace svc-{{{{fields.instanceName}}}}"}}
      retry: {{maxAttempts: 3}}
      timeout: 1h
    - id: register
      type: rest-api
      config:
        method: POST
        url: "{{{{environment.INVENTORY_URL}}}}/services"
        body: {{id: "{{{{outputs.provision.service_id}}}}", owner: "{{{{metadata.owner.team}}}}"}}
        outputs: {{inventory_id: id}}
    - id: ticket
      type: jira-ticket
      config:
        instance: platform
        project: PLAT
        summary: "Service {{{{fields.instanceName}}}} registered as {{{{outputs.register.inventory_id}}}}"
        description: "{{{{#if fields.enableEncryption}}}}encrypted{{{{else}}}}plain{{{{/if}}}}"
lifecycle: {{status: active}}
"""


def generate(directory: Path, count: int) -> None:
    for n in range(count):
        text = ITEM.format(n=n, category=n % 7, team=n % 13)
        (directory / f"item-{n:04d}.yaml").write_text(text)


def timed(command: list[str], *, expect: set[int]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in expect:
        sys.exit(
            f"{command[0]} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pao = shutil.which("pao")
    checker = shutil.which("check-jsonschema")
    if pao is None or checker is None:
        sys.exit("install the project with its test extra first: pip install -e '.[test]'")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        generate(directory, args.files)
        files = sorted(str(p) for p in directory.glob("*.yaml"))
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(timed([pao, "catalog", "validate", str(directory)], expect={0}))
            theirs.append(timed([checker, "--schemafile", str(SCHEMA), *files], expect={0}))
    pao_s, check_s = statistics.median(ours), statistics.median(theirs)
    print(f"files: {args.files}, repeats: {args.repeat} (median wall time of whole commands)")
    print(f"pao catalog validate : {pao_s:.3f} s  (schema + semantic + template checks)")
    print(f"check-jsonschema     : {check_s:.3f} s  (schema only)")
    print(f"ratio check-jsonschema / pao: {check_s / pao_s:.2f}x")


if __name__ == "__main__":
    main()
