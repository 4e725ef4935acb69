"""`make console-deploy` (deploy/console.py) and the console's resources in template.yaml."""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deploy.console import (
    CONSOLE,
    REQUIRED_OUTPUTS,
    ConsoleDeployError,
    console_config,
    console_files,
    invalidate,
    main,
    stack_outputs,
    upload,
)
from local.aws_services import AwsServices
from local.template import load_template

OUTPUTS = {
    "ApiOrigin": "https://abc123.execute-api.af-south-1.amazonaws.com",
    "CognitoDomainUrl": "https://crm-points-dev-123456789012.auth.af-south-1.amazoncognito.com",
    "CrmAppClientId": "client123",
    "ConsoleUrl": "https://d111111abcdef8.cloudfront.net/",
    "ConsoleBucketName": "crm-points-dev-consolebucket-1",
    "ConsoleDistributionId": "E2EXAMPLE",
}


def _described(outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "crm-points-dev",
                "CreationTime": "2026-11-24T10:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [
                    {"OutputKey": key, "OutputValue": value} for key, value in outputs.items()
                ],
            }
        ]
    }


def test_the_stacks_outputs_are_read_and_the_consoles_settings_built_from_them() -> None:
    cloudformation = boto3.client("cloudformation", region_name="af-south-1")
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stacks",
            _described({**OUTPUTS, "TableName": "t"}),
            {"StackName": "crm-points-dev"},
        )
        outputs = stack_outputs(cloudformation, "crm-points-dev")
    assert console_config(outputs) == {
        "signIn": "cognito",
        "apiBase": "https://abc123.execute-api.af-south-1.amazonaws.com",
        "cognito": {
            "domain": "https://crm-points-dev-123456789012.auth.af-south-1.amazoncognito.com",
            "clientId": "client123",
            "redirectUri": "https://d111111abcdef8.cloudfront.net/",
        },
    }


def test_a_stack_without_the_consoles_outputs_is_refused_by_name() -> None:
    cloudformation = boto3.client("cloudformation", region_name="af-south-1")
    partial = {
        key: value for key, value in OUTPUTS.items() if key not in ("ConsoleUrl", "CrmAppClientId")
    }
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", _described(partial), {"StackName": "external"})
        with pytest.raises(ConsoleDeployError, match="CrmAppClientId, ConsoleUrl"):
            stack_outputs(cloudformation, "external")


def test_every_file_a_page_refers_to_is_uploaded_and_local_only_pages_are_not() -> None:
    files = {file.key: file for file in console_files(console_config(OUTPUTS))}
    assert "console/embed-example.html" not in files  # it signs in with the local stack
    assert json.loads(files["config.json"].body)["signIn"] == "cognito"
    index = files["index.html"].body.decode()
    references = set(re.findall(r'(?:src|href)="/([^"]+)"', index))
    assert references == {
        "console/console.css",
        "vendor/chart.js/chart.umd.min.js",
        "console/console.js",
    }
    for key, file in files.items():
        if key.endswith(".js") and key.startswith("console/"):
            for imported in re.findall(r'(?:import|from)\s+"\./([^"]+)"', file.body.decode()):
                references.add(f"console/{imported}")
    assert references <= files.keys(), references - files.keys()
    shipped = {f"console/{path.name}" for path in CONSOLE.iterdir()} - {
        "console/embed-example.html"
    }
    assert shipped - {"console/index.html"} <= files.keys()
    types = {key: file.content_type for key, file in files.items()}
    assert types["index.html"] == "text/html; charset=utf-8"
    assert types["console/console.js"] == "text/javascript; charset=utf-8"
    assert types["console/common.js"] == "text/javascript; charset=utf-8"  # the shared module
    assert types["console/console.css"] == "text/css; charset=utf-8"
    assert types["config.json"] == "application/json; charset=utf-8"


# On the session's moto server, not moto's in-process mock: starting the mock resets moto's
# backends for the whole process, under every local stack the session runs on that server.
def test_an_upload_replaces_the_last_one_and_invalidates_cloudfronts_copies(
    aws_services: AwsServices,
) -> None:
    s3 = aws_services.client("s3")
    bucket = f"console-bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    s3.put_object(Bucket=bucket, Key="console/retired-page.js", Body=b"old")
    files = console_files(console_config(OUTPUTS))

    deleted = upload(s3, bucket, files)

    assert deleted == ["console/retired-page.js"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(file.key for file in files)
    stored = s3.get_object(Bucket=bucket, Key="console/console.js")
    assert stored["ContentType"] == "text/javascript; charset=utf-8"
    assert stored["CacheControl"] == "no-cache"
    assert stored["Body"].read() == (CONSOLE / "console.js").read_bytes()

    cloudfront = aws_services.client("cloudfront")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "console-files",
                        "DomainName": f"{bucket}.s3.af-south-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "console-files",
                "ViewerProtocolPolicy": "redirect-to-https",
            },
        }
    )["Distribution"]["Id"]
    invalidation = invalidate(cloudfront, distribution)
    asked = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)
    assert asked["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


# -- template.yaml --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_stack_gives_every_output_the_upload_needs(template: dict[str, Any]) -> None:
    assert set(REQUIRED_OUTPUTS) <= template["Outputs"].keys()


def test_the_hosted_sign_in_returns_to_the_consoles_own_url(template: dict[str, Any]) -> None:
    client = template["Resources"]["CrmAppClient"]["Properties"]
    console_url = template["Outputs"]["ConsoleUrl"]["Value"]
    assert client["CallbackURLs"] == [console_url]
    assert client["LogoutURLs"] == [console_url]
    assert client["AllowedOAuthFlows"] == ["code"]  # with PKCE: no implicit flow
    assert "openid" in client["AllowedOAuthScopes"]
    assert client.get("GenerateSecret") is False  # a browser keeps no secret


def test_the_consoles_bucket_is_private_and_read_by_its_distribution_only(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    blocked = resources["ConsoleBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert blocked == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    statements = resources["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    reads = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert len(reads) == 1
    assert reads[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reads[0]["Action"] == "s3:GetObject"
    source = reads[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${ConsoleDistribution}")
    origin = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": "ConsoleOriginAccessControl.Id"}


def test_the_apis_cors_allows_the_consoles_origin_and_the_widgets_origins(
    template: dict[str, Any],
) -> None:
    """Which headers the console needs is proven in the browser (tests/browser: the local
    API answers preflights with the template's AllowHeaders and methods)."""
    cors = template["Resources"]["CrmApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1]
    origins = json.dumps(cors["AllowOrigins"])
    assert "https://${ConsoleDistribution.DomainName}" in origins
    assert "${WidgetOrigins}" in origins
    assert {"Authorization", "Idempotency-Key"} <= set(cors["AllowHeaders"])
    assert "AllowCredentials" not in cors  # tokens go in a header, never in cookies


def test_without_aws_credentials_the_command_says_so_and_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["--stack", "crm-points-dev", "--region", "af-south-1"]) == 1
    assert capsys.readouterr().err == "console-deploy: Unable to locate credentials\n"
