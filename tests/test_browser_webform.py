"""In Chromium: a form snippet embedded in a page of another origin creates a lead."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from leads.models import Lead, LeadForm
from leads.services.webforms import snippet


@pytest.fixture
def _serve():
    """_serve(html) -> the URL of a page served by a throw-away HTTP server on loopback."""
    servers = []

    def serve(html: str) -> str:
        body = html.encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/landing"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_snippet_on_another_sites_page_creates_a_lead(live_server, page, screenshot_dir, _serve):
    cache.clear()
    form = LeadForm.objects.create(
        slug="demo-request",
        name="Demo request",
        fields=["email", "first_name", "company"],
        required=["email"],
        consent_text="Send me product news",
    )
    html = snippet(form, action_url=f"{live_server.url}/f/demo-request/")
    landing = f"<!doctype html><html><body><h1>Partner landing page</h1>{html}</body></html>"
    partner = _serve(landing)  # another origin: its own server and port on loopback
    page.goto(partner)
    page.get_by_label("Email").fill("grace@navy.mil")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Company").fill("US Navy")
    page.get_by_label("Send me product news").check()
    page.screenshot(path=os.path.join(screenshot_dir, "webform-partner.png"))
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    assert page.url == f"{live_server.url}/f/demo-request/thanks/"
    lead = Lead.objects.get(email="grace@navy.mil")
    assert (lead.first_name, lead.company, lead.source) == ("Grace", "US Navy", "web_form")
    assert lead.consent_status == "granted"

    # A script on the partner page may post too, cross-origin, and read the JSON answer.
    page.goto(partner)
    answer = page.evaluate(
        """async (url) => {
            const body = new FormData();
            body.append("email", "alan@bletchley.uk");
            const response = await fetch(url, {method: "POST", body,
                                               headers: {"Accept": "application/json"}});
            return [response.status, await response.json()];
        }""",
        f"{live_server.url}/f/demo-request/",
    )
    assert answer == [200, {"ok": True}]  # the same for a known email
    assert Lead.objects.filter(email="alan@bletchley.uk").exists()
