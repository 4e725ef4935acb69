"""What template.yaml promises about the deployed stack's security and limits, read from the
template itself (docs/security.md says why each is so): the user pool, the points bus's
policy, the console's response headers, concurrency, dead-letter retention, the SES
identity, the reasons checkov's findings are skipped, and the layer's pins."""

import base64
import hashlib
import re
from html.parser import HTMLParser
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from crm_points.outbound import EVENT_SOURCE
from deploy.console import LOCAL_ONLY
from local.template import ROOT, load_template

FOURTEEN_DAYS = 1_209_600


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def properties(template: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][name].get("Properties", {})
    return found


# -- the user pool --


def test_the_pool_requires_an_authenticator_app(template):
    pool = properties(template, "UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_pool_outlives_the_stack(template):
    pool = template["Resources"]["UserPool"]
    assert pool["DeletionPolicy"] == "Retain"
    assert pool["UpdateReplacePolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_threat_protection_is_enforced_in_prod_only(template):
    pool = properties(template, "UserPool")
    assert pool["UserPoolAddOns"] == {
        "Fn::If": ["IsProd", {"AdvancedSecurityMode": "ENFORCED"}, {"Ref": "AWS::NoValue"}]
    }
    # Enforced threat protection needs the Plus plan.
    assert pool["UserPoolTier"] == {"Fn::If": ["IsProd", "PLUS", {"Ref": "AWS::NoValue"}]}
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}


def test_the_browser_client_has_no_password_flow_of_its_own(template):
    flows = properties(template, "CrmAppClient")["ExplicitAuthFlows"]
    assert "ALLOW_ADMIN_USER_PASSWORD_AUTH" not in flows
    assert "ALLOW_USER_PASSWORD_AUTH" not in flows
    assert properties(template, "CrmAppClient")["GenerateSecret"] is False


# -- the points bus --


def bus_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    policies = resources(template, "AWS::Events::EventBusPolicy").values()
    assert all(p["Properties"]["EventBusName"] == {"Ref": "PointsBus"} for p in policies)
    return [p["Properties"]["Statement"] for p in policies]


def deny_for_source(template: dict[str, Any], source: str) -> dict[str, Any]:
    """The Deny of PutEvents for entries of `source`, by whoever is not its one principal."""
    found = [
        statement
        for statement in bus_statements(template)
        if statement["Effect"] == "Deny"
        and statement["Condition"].get("ForAnyValue:StringEquals") == {"events:source": source}
    ]
    assert len(found) == 1, f"no single Deny for source {source}: {found}"
    statement = found[0]
    # An Allow cannot narrow what principals of the account may do; only a Deny can.
    assert statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": "PointsBus.Arn"}
    assert set(statement["Condition"]) == {"ForAnyValue:StringEquals", "ArnNotEquals"}
    return statement


def test_only_the_booking_system_puts_booking_events(template):
    statement = deny_for_source(template, "bookings")
    assert statement["Condition"]["ArnNotEquals"] == {
        "aws:PrincipalArn": {"Ref": "BookingSystemPrincipalArn"}
    }
    # No default: a deployment names the booking system's principal or fails.
    assert "Default" not in template["Parameters"]["BookingSystemPrincipalArn"]


def test_every_function_that_puts_events_is_the_one_its_source_allows(template):
    """Our own events (`source: crm.points`) still get through, from their function only."""
    assert EVENT_SOURCE != "bookings"
    putters = {
        name
        for name, function in resources(template, "AWS::Serverless::Function").items()
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if "events:PutEvents" in str(statement.get("Action"))
    }
    assert putters == {"LedgerStreamFunction"}
    statement = deny_for_source(template, EVENT_SOURCE)
    assert statement["Condition"]["ArnNotEquals"] == {
        "aws:PrincipalArn": {"Fn::GetAtt": "LedgerStreamFunctionRole.Arn"}
    }


def test_every_rule_on_the_bus_listens_to_a_guarded_source(template):
    guarded = {
        statement["Condition"]["ForAnyValue:StringEquals"]["events:source"]
        for statement in bus_statements(template)
        if statement["Effect"] == "Deny"
    }
    for name, function in resources(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "EventBridgeRule":
                assert set(event["Properties"]["Pattern"]["source"]) <= guarded, name


def test_the_bus_statements_are_made_one_at_a_time(template):
    """Each statement rewrites the bus's one policy: made in parallel, one could undo another."""
    policies = resources(template, "AWS::Events::EventBusPolicy")
    after = {name: policy.get("DependsOn") for name, policy in policies.items()}
    first = [name for name, previous in after.items() if previous is None]
    assert len(first) == 1
    chain = first
    while len(chain) < len(policies):
        (following,) = [name for name, previous in after.items() if previous == chain[-1]]
        chain.append(following)
    assert sorted(chain) == sorted(policies)


# -- the console's distribution --


def csp_directives(template: dict[str, Any]) -> dict[str, list[str]]:
    config = properties(template, "ConsoleResponseHeaders")["ResponseHeadersPolicyConfig"]
    csp = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp["Override"] is True
    separator, parts = csp["ContentSecurityPolicy"]["Fn::Join"]
    assert separator == "; "
    directives = {}
    for part in parts:
        text = part["Fn::Sub"] if isinstance(part, dict) else part
        name, *values = text.split()
        directives[name] = values
    return directives


def inline_styles(console: Path = ROOT / "console") -> dict[str, str]:
    """{file: the `const STYLE` template literal} of the console's scripts: the text of the
    <style> each component puts in its shadow root."""
    found = {}
    for path in sorted(console.glob("*.js")):
        match = re.search(r"^const STYLE = `(.*?)`;", path.read_text(), re.S | re.M)
        if match:
            body = match.group(1)
            # The hash is of the text the browser sees: no escape or substitution may differ.
            assert "\\" not in body, path.name
            assert "${" not in body, path.name
            found[path.name] = body
    return found


def test_the_console_runs_only_its_own_scripts(template):
    directives = csp_directives(template)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    everything = [value for values in directives.values() for value in values]
    assert "'unsafe-inline'" not in everything
    assert "'unsafe-eval'" not in everything


def test_the_csp_allows_the_component_styles_by_their_hashes(template):
    styles = inline_styles()
    assert styles, "no component style found in console/"
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in styles.values()
    }
    assert set(csp_directives(template)["style-src"]) == {"'self'", *hashes}


def test_the_csp_lets_the_console_reach_the_api_and_the_sign_in(template):
    connect = csp_directives(template)["connect-src"]
    assert connect == [
        "'self'",
        "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}",
        "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com",
    ]


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("inline <style>")
        self.found += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]
        self.found += [f"style= on <{tag}>" for name in names if name == "style"]


def test_the_deployed_pages_have_no_inline_code():
    pages = [p for p in sorted((ROOT / "console").glob("*.html")) if p.name not in LOCAL_ONLY]
    assert pages
    for page in pages:
        parser = _InlineCode()
        parser.feed(page.read_text())
        assert parser.found == [], page.name


def test_the_console_sends_the_security_headers(template):
    distribution_config = properties(template, "ConsoleDistribution")["DistributionConfig"]
    behavior = distribution_config["DefaultCacheBehavior"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "ConsoleResponseHeaders"}
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    config = properties(template, "ConsoleResponseHeaders")["ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert all(header["Override"] is True for header in headers.values())


def test_a_custom_domain_gets_tls_1_2_at_least(template):
    config = properties(template, "ConsoleDistribution")["DistributionConfig"]
    condition, custom, default = config["ViewerCertificate"]["Fn::If"]
    assert condition == "HasConsoleDomain"
    assert custom == {
        "AcmCertificateArn": {"Ref": "ConsoleCertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert default == {"CloudFrontDefaultCertificate": True}
    for parameter in ("ConsoleDomainName", "ConsoleCertificateArn"):
        assert template["Parameters"][parameter]["Default"] == ""


# -- concurrency --


def test_the_event_consumers_have_reserved_concurrency(template):
    functions = resources(template, "AWS::Serverless::Function")
    reserved = {
        name: function["Properties"]["ReservedConcurrentExecutions"]
        for name, function in functions.items()
        if "ReservedConcurrentExecutions" in function["Properties"]
    }
    assert set(reserved) == {
        "LedgerStreamFunction",
        "BookingCompletedFunction",
        "BookingCancelledFunction",
        "BookingRefundedFunction",
        "CustomerUpdatedFunction",
    }
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name, number in reserved.items():
        assert re.search(rf"`{name}`[^\n]*\| {number} \|", operations), (name, number)


def test_the_notification_sender_is_held_to_the_send_rates(template):
    event = properties(template, "SendNotificationsFunction")["Events"]["Queue"]
    maximum = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert 2 <= maximum <= 5
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert re.search(rf"`SendNotificationsFunction`[^\n]*\| {maximum} \|", operations)


# -- dead letters --


def dead_letter_targets(template: dict[str, Any]) -> set[str]:
    """The queues anything in the template sends its failures to."""
    targets: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            if key in {"DeadLetterConfig", "OnFailure"} or "deadLetterTargetArn" in value:
                arn = (
                    value.get("Arn") or value.get("Destination") or value.get("deadLetterTargetArn")
                )
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    targets.add(arn["Fn::GetAtt"].split(".")[0])
            for child_key, child in value.items():
                walk(child, child_key)
        elif isinstance(value, list):
            for child in value:
                walk(child, key)

    walk(template["Resources"])
    return targets


def test_no_dead_letter_queue_is_left_to_sam(template):
    for name, function in resources(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            config = event["Properties"].get("DeadLetterConfig")
            if config is not None:
                assert "Type" not in config, f"{name}: SAM would make a 4-day queue"
                assert "Arn" in config, name


def test_every_dead_letter_queue_keeps_messages_fourteen_days(template):
    queues = resources(template, "AWS::SQS::Queue")
    targets = dead_letter_targets(template)
    assert "BookingRulesDeadLetters" in targets
    for name in targets:
        assert queues[name]["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS, name
        assert queues[name]["Properties"]["SqsManagedSseEnabled"] is True, name


def test_the_rules_may_write_to_their_dead_letter_queue(template):
    rules = sorted(
        f"{name}{event_name}"
        for name, function in resources(template, "AWS::Serverless::Function").items()
        for event_name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] == "EventBridgeRule"
    )
    policy = properties(template, "BookingRulesDeadLettersPolicy")
    assert policy["Queues"] == [{"Ref": "BookingRulesDeadLetters"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    allowed = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(arn["Fn::GetAtt"].removesuffix(".Arn") for arn in allowed) == rules


# -- SES --


def test_the_sender_identity_is_part_of_the_stack(template):
    (identity,) = resources(template, "AWS::SES::EmailIdentity").values()
    assert identity["Condition"] == "HasSenderIdentity"
    assert identity["Properties"]["EmailIdentity"] == {"Ref": "SenderIdentity"}


# -- checkov's skips --


def test_every_skipped_check_says_why(template):
    skips = 0
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_[0-9]+", skip["id"]), name
            assert len(skip.get("comment", "")) >= 40, f"{name} {skip['id']}: no real reason"
            skips += 1
    assert skips


# -- the layer's pins --


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return found


def requirements_of(name: str) -> list[str]:
    """What `name` needs on Lambda's Python 3.13 on Linux (no extras), from its metadata."""
    environment = {key: str(value) for key, value in default_environment().items()}
    environment |= {
        "python_version": "3.13",
        "python_full_version": "3.13.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "extra": "",
    }
    needed = []
    for text in distribution(name).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            needed.append(re.sub(r"[-_.]+", "-", requirement.name).lower())
    return needed


def test_the_layer_pins_every_dependency_at_the_locks_version():
    layer = pins(ROOT / "layers" / "shared" / "requirements.txt")
    lock = pins(ROOT / "requirements-dev.txt")
    assert {name: lock.get(name) for name in layer} == layer
    # The closure of what the layer needs, read from the installed (locked) packages: a
    # dependency that no line pins would be whatever the build resolves that day.
    closure: set[str] = set()
    pending = list(layer)
    while pending:
        name = pending.pop()
        if name not in closure:
            closure.add(name)
            pending += requirements_of(name)
    assert closure - set(layer) == set()
