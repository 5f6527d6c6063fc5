"""Screenshots of every page, at a phone's size and a wall screen's, for the README.

    deploy/dev screenshots [--out docs/screenshots]

starts a throwaway system of its own (broker, worker, API, on free ports), sends the demo data
as `deploy/dev up` does, then drives Debian's chromium (Playwright, `executable_path`) through
the pages as the people they are for: the public's form and its status page; the outreach
worker's phone; a person's page as outreach and as a charity sees them; a provider's beds; and
the board on a wall screen and a phone, for a council member signed in through the council's
(stand-in) identity provider.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from deploy.browser import passkey_store
from deploy.cli import DEMO_SIGN_IN, demo_invitations, demo_keys, demo_single_sign_on
from deploy.demo import send_demo, send_demo_beds, send_scenario
from deploy.identity_provider import StandInProvider
from deploy.processes import free_port, start_api, start_worker
from deploy.scenario import ORGANISATIONS
from deploy.throwaway import throwaway_settings
from schemas.settings import SignInProvider

PHONE = {"width": 390, "height": 844}
WALL = {"width": 1920, "height": 1080}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with throwaway_settings("screenshots", api_port=free_port()) as settings:
        # The council signs in through its own identity provider (the stand-in), as in the demo.
        stand_in = StandInProvider(settings.state_dir / "identity-provider", settings.origin,
                                   organisation=ORGANISATIONS["council"], accounts=DEMO_SIGN_IN)
        settings = settings.model_copy(update={"sign_in_providers": (
            SignInProvider(**stand_in.setting(name="Town Council (demo)")),)})
        parts = [start_worker(settings, settings.state_dir / "worker.log")]
        try:
            parts.append(start_api(settings, settings.state_dir / "api.log"))
            base = settings.origin  # localhost: a passkey belongs to a host name
            keys = demo_keys(settings)
            links = demo_invitations(settings, keys)
            links["council-login"] = demo_single_sign_on(settings, keys)  # at the identity provider
            people = send_demo(base, keys)
            send_demo_beds(base, keys, people)
            send_scenario(base, keys, settings.zone)
            journey = f"{base}/v1/people/{people[0]}/journey"
            while not httpx.get(journey, headers={"X-API-Key": keys["outreach"]}).is_success:
                time.sleep(0.5)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                shoot(browser, base, keys, links, people, args.out)
                browser.close()
        finally:
            for part in parts:
                part.stop()
            stand_in.close()
    print(f"screenshots in {args.out}")


def shoot(browser: Any, base: str, keys: dict[str, str], links: dict[str, str], people: list[str],
          out: Path) -> None:
    def page_as(who: str | None, size: dict[str, int]) -> Any:
        page = browser.new_context(viewport=size).new_page()
        if who is not None:
            # The member makes a passkey from their invitation on Chromium's virtual authenticator.
            passkey_store(page)
            page.goto(links[who])
            if who == "outreach":
                save(page, "join-phone")
            page.click("#make-passkey")
            page.wait_for_url(lambda url: "/join/" not in url)
        return page

    def save(page: Any, name: str) -> None:
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        print(f"  {name}.png")

    public = page_as(None, PHONE)
    public.goto(f"{base}/report")
    save(public, "report-phone")
    public.select_option("#area_code", "TC-MARKET")
    public.fill("#place", "Doorway of the bank on Market Street")
    public.fill("#description", "Man in his 40s, green coat, with a dog")
    public.check("#over_18-yes")
    public.click("button[type=submit]")
    reference = public.locator("#reference").inner_text().strip()
    save(public, "report-sent-phone")
    public.goto(f"{base}/report/{reference}")
    save(public, "report-status-phone")
    public.goto(f"{base}/sign-in")
    save(public, "sign-in-phone")

    outreach = page_as("outreach", PHONE)
    outreach.goto(f"{base}/outreach")
    save(outreach, "outreach-phone")
    outreach.goto(f"{base}/outreach/people/{people[0]}")
    save(outreach, "outreach-person-phone")

    brick = page_as("brick", PHONE)
    brick.goto(f"{base}/beds")
    save(brick, "beds-phone")
    brick.goto(f"{base}/people/{people[0]}")
    save(brick, "person-as-a-charity-phone")

    # The council member signs in through the council's identity provider; one browser, two sizes.
    board = page_as(None, WALL)
    board.goto(f"{base}/board")
    board.click("text=Sign in with Town Council (demo)")
    board.fill("input[name=login]", links["council-login"])
    board.fill("input[name=password]", "any")
    board.click("button[type=submit]")
    board.click("button:has-text('Continue')")
    board.wait_for_url(f"{base}/board")
    for size, name in ((WALL, "board-wall"), (PHONE, "board-phone")):
        board.set_viewport_size(size)
        board.goto(f"{base}/board")
        board.wait_for_selector("#flow", timeout=120_000)  # the month's flow, worked out in the background
        save(board, name)


if __name__ == "__main__":
    main()
