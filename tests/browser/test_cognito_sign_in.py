"""The console as deployed to AWS: its files as `make console-deploy` lays them out, served
from an origin of their own (CloudFront's stand-in), signing in through a user pool's hosted
sign-in (authorization code with PKCE), and calling the API on another origin (CORS, as the
template configures it). The API is the local stack's, which verifies the stand-in's tokens
as the deployed API verifies Cognito's."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from deploy.console import console_config, console_files
from tests.browser.conftest import Console
from tests.browser.hosted_sign_in import HostedSignIn, StaticSite
from tests.browser.test_console import api, find, shows_summary

CLIENT_ID = "crm-console-client"
USERS = {
    "alice@example.com": ("MANAGER",),
    "sam@example.com": ("SUPPORT_AGENT",),
    "nobody@example.com": (),
}


@dataclass(frozen=True)
class DeployedConsole:
    site: StaticSite
    hosted: HostedSignIn


@pytest.fixture(scope="module")
def deployed(console_stack: Console) -> Iterator[DeployedConsole]:
    site = StaticSite()
    hosted = HostedSignIn(
        client_id=CLIENT_ID,
        redirect_uri=f"{site.url}/",
        allowed_origin=site.url,
        users=USERS,
    ).start()
    outputs = {
        "ApiOrigin": console_stack.url,
        "CognitoDomainUrl": hosted.url,
        "CrmAppClientId": CLIENT_ID,
        "ConsoleUrl": f"{site.url}/",
    }
    site.publish(console_files(console_config(outputs)))
    site.start()
    try:
        yield DeployedConsole(site, hosted)
    finally:
        site.stop()
        hosted.stop()


@pytest.fixture
def hosted(deployed: DeployedConsole) -> Iterator[HostedSignIn]:
    yield deployed.hosted
    deployed.hosted.token_minutes = 60


def sign_in_with_cognito(page: Page, deployed: DeployedConsole, email: str) -> None:
    page.goto(f"{deployed.site.url}/")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(f"{deployed.hosted.url}/oauth2/authorize?")))
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in with Cognito").click()
    expect(page).to_have_url(f"{deployed.site.url}/")  # back, the code gone from the address


def test_a_manager_signs_in_with_cognito_and_awards_points_through_the_api_of_another_origin(
    page: Page, deployed: DeployedConsole, console_stack: Console
) -> None:
    customer_id = console_stack.customer_ids[0]
    sign_in_with_cognito(page, deployed, "alice@example.com")
    expect(page.locator("#signed-in")).to_contain_text("alice@example.com (MANAGER)")
    expect(page.locator("#sign-in")).to_be_hidden()  # no local sign-in in AWS
    expect(page.get_by_role("button", name="Dashboard")).to_be_visible()

    find(page, customer_id)
    shows_summary(page, api(console_stack, f"/api/crm/customers/{customer_id}/points"))
    page.get_by_label("Points to add", exact=True).fill("120")
    page.get_by_label("Reason", exact=True).fill("Thank-you for the review")
    page.get_by_role("button", name="Add Bonus Points").click()  # a preflighted POST
    expect(page.get_by_test_id("award-outcome")).to_have_text("Added 120 points.")
    after = api(console_stack, f"/api/crm/customers/{customer_id}/points")
    shows_summary(page, after)
    history = api(console_stack, f"/api/crm/customers/{customer_id}/points/transactions?limit=1")
    newest = history["transactions"][0]
    assert (newest["type"], newest["points"]) == ("AWARD", 120)
    assert newest["actor"]["role"] == "MANAGER"

    page.get_by_role("button", name="Dashboard").click()  # the staff sections' calls too
    expect(page.locator("#dashboard-cards [data-kpi='Outstanding points']")).to_be_visible()
    expect(page.locator("#dashboard-status")).to_be_hidden()


def test_a_token_about_to_run_out_is_renewed_with_the_refresh_token(
    page: Page, deployed: DeployedConsole, hosted: HostedSignIn, console_stack: Console
) -> None:
    hosted.token_minutes = 0.5  # under the console's one minute of margin: renewed each call
    sign_in_with_cognito(page, deployed, "sam@example.com")
    expect(page.locator("#signed-in")).to_contain_text("sam@example.com (SUPPORT_AGENT)")
    before = hosted.refreshes
    find(page, console_stack.customer_ids[1])
    shows_summary(
        page, api(console_stack, f"/api/crm/customers/{console_stack.customer_ids[1]}/points")
    )
    assert hosted.refreshes > before


def test_a_user_in_no_crm_group_is_told_so_and_stays_signed_out(
    page: Page, deployed: DeployedConsole
) -> None:
    sign_in_with_cognito(page, deployed, "nobody@example.com")
    expect(page.locator("#sign-in-cognito-error")).to_contain_text("in no CRM group")
    expect(page.locator("#signed-in")).to_be_hidden()
    expect(page.locator("#customers")).to_be_hidden()


def test_a_return_that_this_tab_did_not_start_is_refused(
    page: Page, deployed: DeployedConsole
) -> None:
    page.goto(f"{deployed.site.url}/?code=forged&state=forged")
    expect(page.locator("#sign-in-cognito-error")).to_contain_text("not started from this tab")
    expect(page).to_have_url(f"{deployed.site.url}/")
    expect(page.locator("#signed-in")).to_be_hidden()


def test_signing_out_ends_the_hosted_sign_in_too(page: Page, deployed: DeployedConsole) -> None:
    sign_in_with_cognito(page, deployed, "alice@example.com")
    expect(page.locator("#signed-in")).to_be_visible()
    before = deployed.hosted.sign_outs
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert deployed.hosted.sign_outs == before + 1
    page.reload()  # nothing kept in the tab
    expect(page.locator("#signed-in")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
