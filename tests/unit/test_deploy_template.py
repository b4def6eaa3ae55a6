"""deploy/template.yaml: cfn-lint clean (with the SAM transform, so the serverless rules run on
what SAM generates), and the spec's attributes where the spec sets them."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) kept as {tag: value}."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tagged)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)
    return loaded


def test_cfn_lint_passes() -> None:
    # cfn-lint's command (the `test` extra installs it beside this interpreter's scripts)
    scripts = sysconfig.get_path("scripts")
    command = shutil.which("cfn-lint", path=scripts) or shutil.which("cfn-lint")
    assert command is not None, "cfn-lint is not installed: pip install -e '.[test]'"
    done = subprocess.run(
        [command, "--format", "parseable", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_spec_attributes() -> None:
    resources = template()["Resources"]
    queue = resources["JobQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 360
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"GetAtt": "JobDeadLetterQueue.Arn"}
    api = resources["ApiFunction"]["Properties"]
    assert api["ReservedConcurrentExecutions"] == 100
    assert api["Events"]["Api"]["Properties"]["Path"] == "/api/v1/{proxy+}"
    assert api["Events"]["Api"]["Properties"]["PayloadFormatVersion"] == "2.0"
    auth = resources["HttpApi"]["Properties"]["Auth"]
    assert auth == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    processor = resources["RequestProcessorFunction"]["Properties"]
    assert processor["Timeout"] == 300
    jobs = processor["Events"]["Jobs"]["Properties"]
    assert jobs["BatchSize"] == 10
    assert jobs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    schedule = resources["CatalogProcessorFunction"]["Properties"]["Events"]["Every5Minutes"]
    assert schedule["Properties"]["Schedule"] == "rate(5 minutes)"
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 2


def test_each_function_has_its_own_retained_log_group_and_narrow_policies() -> None:
    resources = template()["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 3
    for name, function in functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        for policy in function["Properties"]["Policies"]:
            for statement in policy["Statement"]:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                assert all("*" not in a for a in actions), (name, statement)
                assert statement["Resource"] != "*", (name, statement)
