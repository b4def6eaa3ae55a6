"""Benchmark: `pao catalog validate` on 1,000 generated catalog files vs check-jsonschema.

Both run as the commands a catalog repository's CI would run, on the same files and the same
schema, in this one run; the figure that matters is their ratio. check-jsonschema only checks
the schema, while `pao catalog validate` also runs every semantic and template check.

    python3 -m bench.catalog_validate [--files 1000] [--repeat 3] [--no-baseline] [--breakdown]

Each command runs once untimed first (a machine that has run them before: files in the page
cache), then ``--repeat`` times; the figures are medians of
whole-command wall times. Other work on the machine skews them, so the load average is shown.
``--breakdown`` adds where pao's time goes, measured in-process (CPU time, best of 5): start-up
(imports) apart from the work per file.
"""

from __future__ import annotations

import argparse
import os
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


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


BREAKDOWN = """
import gc, statistics, sys, time
from pathlib import Path
start = time.perf_counter()
from orchestrator.catalog import schema, semantics, validator, yaml_loader
from orchestrator.catalog import report_format  # noqa: F401 - what the command imports
from orchestrator.catalog.models import CatalogItem
imported = time.perf_counter()
schema.fast_check_for(schema.CATALOG_ITEM_SCHEMA)
compiled = time.perf_counter()
paths, _ = validator.discover([sys.argv[1]])
texts = [p.read_bytes() for p in paths]
names = [p.as_posix() for p in paths]
check = schema.fast_check_for(schema.CATALOG_ITEM_SCHEMA)
docs = [yaml_loader.load_yaml(t, n)[0] for t, n in zip(texts, names)]
for doc in docs:
    check(doc.data)
gc.freeze()  # as in a worker process
gc.set_threshold(10_000, 10, 10)
stages = {
    "read files": lambda: [p.read_bytes() for p in paths],
    "YAML (C parser, data)": lambda: [yaml_loader.load_yaml(t, n) for t, n in zip(texts, names)],
    "JSON Schema (fastjsonschema)": lambda: [check(d.data) for d in docs],
    "semantic + template checks": lambda: [semantics.ItemChecker(d).run() for d in docs],
    "typed model (pydantic)": lambda: [CatalogItem.model_validate(d.data) for d in docs],
    "all checks of a file": lambda: [validator.check_document(n, t) for t, n in zip(texts, names)],
}
best = dict.fromkeys(stages, float("inf"))
for _ in range(5):
    for stage, run in stages.items():
        began = time.process_time()
        run()
        best[stage] = min(best[stage], time.process_time() - began)
print(f"  imports (validator, report format)  {1e3 * (imported - start):7.1f} ms")
print(f"  compiled schema code (in memory)    {1e3 * (compiled - imported):7.1f} ms")
for stage, seconds in best.items():
    print(f"  {stage:34s}  {1e6 * seconds / len(paths):7.1f} us/file")
"""


def breakdown(pao: str, directory: Path) -> None:
    def best(command: list[str]) -> float:
        return min(timed(command, expect={0}) for _ in range(5))

    print("where pao's time goes:")
    print(
        f"  python3 -c pass (interpreter)       {1e3 * best([sys.executable, '-c', 'pass']):7.1f} ms wall"
    )
    start = best([pao, "catalog", "validate", "--help"])
    print(f"  pao catalog validate --help (start) {1e3 * start:7.1f} ms wall")
    subprocess.run([sys.executable, "-c", BREAKDOWN, str(directory)], check=True)
    for jobs in (1, os.cpu_count() or 1):
        seconds = statistics.median(
            timed([pao, "catalog", "validate", str(directory), "--jobs", str(jobs)], expect={0})
            for _ in range(3)
        )
        print(f"  pao catalog validate --jobs {jobs}       {seconds:7.3f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-baseline", action="store_true", help="time pao only (check-jsonschema is slow)"
    )
    parser.add_argument("--breakdown", action="store_true", help="also show where time goes")
    args = parser.parse_args()
    pao = shutil.which("pao")
    checker = shutil.which("check-jsonschema")
    if pao is None or checker is None:
        sys.exit(
            "install the project with its test extra first: pip install -c constraints.txt -e '.[test]'"
        )
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        generate(directory, args.files)
        files = sorted(str(p) for p in directory.glob("*.yaml"))
        ours_command = [pao, "catalog", "validate", str(directory)]
        theirs_command = [checker, "--schemafile", str(SCHEMA), *files]
        timed(ours_command, expect={0})  # untimed first runs
        if not args.no_baseline:
            timed(theirs_command, expect={0})
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(timed(ours_command, expect={0}))
            if not args.no_baseline:
                theirs.append(timed(theirs_command, expect={0}))
        if args.breakdown:
            breakdown(pao, directory)
    pao_s = statistics.median(ours)
    print(f"files: {args.files}, repeats: {args.repeat} (median wall time of whole commands)")
    print(f"load average: {load_before} before, {_load()} after")
    print(
        f"pao catalog validate : {pao_s:.3f} s  (min {min(ours):.3f} s; "
        "schema + semantic + template checks)"
    )
    if theirs:
        check_s = statistics.median(theirs)
        print(f"check-jsonschema     : {check_s:.3f} s  (min {min(theirs):.3f} s; schema only)")
        print(f"ratio check-jsonschema / pao: {check_s / pao_s:.2f}x")


if __name__ == "__main__":
    main()
