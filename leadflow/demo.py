"""Demo data for trying LeadFlow out: `manage.py seed_demo`.

Everything is created through the same services the product uses (capture_lead,
move_stage, enter_lead for the lead entered by hand, erase_person for the person erased
at their request), so the demo's stage history is exactly what real use would write.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction

from leadflow import demo_handoff
from leadflow.demo_nurturing import seed_nurturing
from leads import hooks, roles
from leads.models import Campaign, Lead, LeadForm, Source, Stage, Team
from leads.services import (
    capture_lead,
    define_custom_field,
    move_stage,
    record_event,
)
from leads.services.erasure import erase_person
from leads.services.manual import enter_lead
from nurturing.models import Send
from nurturing.services.enrolment import exit_stale
from scoring.rules import DEFAULT_DEFINITION
from scoring.services import create_version, predictive, rank_events, run_rescore

DEMO_PASSWORD = "leadflow-demo"  # noqa: S105 - printed by `make run`, demo data only

DEMO_USERS = [
    # username, first, last, group, what they see
    ("marketer", "Mia", "Marketer", roles.MARKETING, "marketing: every lead"),
    ("rep_ann", "Ann", "Archer", roles.SALES, "sales rep: her own leads"),
    ("rep_bob", "Bob", "Baker", roles.SALES, "sales rep: his own leads"),
    ("rep_cleo", "Cleo", "Carter", roles.SALES, "sales rep (Enterprise): her own leads"),
    ("rep_dan", "Dan", "Dawson", roles.SALES, "sales rep (Enterprise), away this week"),
    ("manager", "Max", "Manager", roles.MANAGER, "sales manager: Inside Sales and Enterprise"),
]


def demo_logins_text() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD})"]
    lines += [f"  {username:<10} {about}" for username, *_, about in DEMO_USERS]
    return "\n".join(lines)


CAMPAIGNS = [
    # code, name, channel, cost
    ("spring-webinar", "Spring product webinar", Source.WEBINAR, "4500.00"),
    ("saastr-booth", "SaaStr trade show booth", Source.TRADE_SHOW, "28000.00"),
    ("google-ppc-q3", "Google Ads Q3", Source.PAID_SEARCH, "12500.00"),
    ("ebook-pipeline", "E-book: fixing the leaky pipeline", Source.CONTENT_SYNDICATION, "6000.00"),
    ("zoominfo-list", "Purchased list: EU mid-market", Source.PURCHASED_LIST, "9000.00"),
    ("partner-referrals", "Partner referral programme", Source.REFERRAL, "2000.00"),
    ("blog-organic", "Blog and SEO", Source.ORGANIC, "0.00"),
    ("demo-form", "Website demo request form", Source.WEB_FORM, "0.00"),
]

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Leo",
    "Harper",
    "Ethan",
    "Ella",
    "Hannah",
    "Jonas",
    "Lea",
    "Felix",
    "Clara",
    "Paul",
    "Marie",
    "Luca",
    "Sofia",
    "Matteo",
    "Giulia",
    "Hugo",
    "Chloe",
    "Louis",
    "Ines",
    "Sara",
    "Omar",
    "Yara",
    "Aarav",
    "Priya",
    "Wei",
    "Mei",
    "Kenji",
    "Yuki",
    "Lars",
    "Freya",
    "Nils",
    "Astrid",
    "Pedro",
    "Lucia",
    "Diego",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Martin",
    "Bernard",
    "Dubois",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Jansen",
    "deVries",
    "Novak",
    "Kowalski",
    "Nielsen",
    "Hansen",
    "Larsen",
    "Silva",
    "Santos",
    "Costa",
    "Tanaka",
    "Suzuki",
    "Chen",
    "Wang",
    "Patel",
    "Shah",
    "Kumar",
    "Haddad",
    "Cohen",
    "Murphy",
]
COMPANIES = [
    # name, domain, size, industry, country
    ("Acme Analytics", "acme-analytics.com", 240, "Software", "US"),
    ("Northwind Logistics", "northwind.io", 1200, "Logistics", "US"),
    ("Globex Manufacturing", "globex.de", 3400, "Manufacturing", "DE"),
    ("Initech", "initech.com", 480, "Software", "US"),
    ("Umbrella Health", "umbrella-health.co.uk", 2600, "Healthcare", "GB"),
    ("Vandelay Industries", "vandelay.com", 150, "Wholesale", "US"),
    ("Stark Components", "stark-components.fr", 900, "Manufacturing", "FR"),
    ("Wayne Financial", "waynefin.com", 5200, "Financial services", "US"),
    ("Tyrell Systems", "tyrell.nl", 75, "Software", "NL"),
    ("Cyberdyne Robotics", "cyberdyne.se", 310, "Robotics", "SE"),
    ("Soylent Foods", "soylent-foods.es", 640, "Food", "ES"),
    ("Hooli", "hooli.xyz", 8800, "Internet", "US"),
    ("Pied Piper", "piedpiper.com", 40, "Software", "US"),
    ("Massive Dynamic", "massivedynamic.com", 4100, "Research", "US"),
    ("Oscorp Chemicals", "oscorp.it", 1900, "Chemicals", "IT"),
    ("Blue Sun Retail", "bluesun.com.au", 720, "Retail", "AU"),
    ("Monarch Insurance", "monarch-ins.ie", 1350, "Insurance", "IE"),
    ("Aperture Labs", "aperture.dk", 260, "Research", "DK"),
    ("Dunder Paper", "dunder-paper.com", 95, "Paper", "US"),
    ("Nakatomi Trading", "nakatomi.jp", 2300, "Trading", "JP"),
]
TITLES = [
    "VP Marketing", "Head of Sales", "Marketing Manager", "CMO", "CTO", "IT Director",
    "Sales Operations Manager", "Demand Generation Lead", "Chief Revenue Officer",
    "Marketing Coordinator", "Product Manager", "Student", "Founder", "Office Manager",
]  # fmt: skip
PHONE_PREFIX = {
    "US": "+1 415 555", "DE": "+49 30 5550", "GB": "+44 20 7946", "FR": "+33 1 5550",
    "NL": "+31 20 5550", "SE": "+46 8 5550", "ES": "+34 91 555", "IT": "+39 06 5550",
    "AU": "+61 2 5550", "IE": "+353 1 555", "DK": "+45 3255", "JP": "+81 3 5550",
}  # fmt: skip
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com"]


@dataclass
class SeedResult:
    created: bool
    leads: int = 0
    stage_changes: int = 0
    emails: int = 0


def seed_demo(*, now: datetime, leads: int = 3000, seed: int = 7) -> SeedResult:
    """Create the demo users, team, campaigns and `leads` leads with ~6 months of history.

    Does nothing (created=False) when the demo users already have leads.
    """
    if Lead.objects.filter(email__endswith=".example").exists() or (
        get_user_model().objects.filter(username="marketer").exists() and Lead.objects.exists()
    ):
        return SeedResult(created=False)
    rng = random.Random(seed)
    # Announcements are muted: everything is scored in one pass at the end. Leads are
    # written in batches: one transaction with tens of thousands of savepoints is slow.
    with hooks.muted():
        with transaction.atomic():
            users = _users()
            demo_handoff.teams(users, now=now)
            campaigns = _campaigns(now)
            _custom_fields_and_form(campaigns)
        result = SeedResult(created=True)
        for start in range(0, leads, SEED_BATCH):
            with transaction.atomic():
                for index in range(start, min(leads, start + SEED_BATCH)):
                    result.stage_changes += _lead(rng, index, now, users, campaigns)
                    result.leads += 1
        with transaction.atomic():
            _duplicates(rng, now, count=min(8, leads // 10))
            model = create_version(
                definition=DEFAULT_DEFINITION, by=users["marketer"], note="Default model", now=now
            )
        result.emails = seed_nurturing(rng, now=now)
        rank_events()
        run_rescore(run_id=model.runs.get().pk, now=now)
        exit_stale(now=now)  # leads the rescoring made MQL leave their tracks
        demo_handoff.settle(now=now)
        # The predictive model, from the outcomes above (refused, and the page says
        # why, when a small demo has too few); planned with statistics of what was just
        # written (without, a fresh table reads as empty and the plans take minutes).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE leads_lead, leads_activity, leads_stagechange, handoff_handoff")
        run = predictive.request_training(by=users["marketer"], now=now)
        predictive.run_training(run_id=run.pk, now=now)
    _by_hand_and_erased(users, now=now)
    # The dashboards open with figures, not "not computed yet": their first rollup.
    from dashboards.services import rollup

    rollup.run(now=now)
    return result


def _by_hand_and_erased(users, *, now: datetime) -> None:
    """A lead Ann entered by hand after a call (the New lead page's service), and one
    person who asked to be forgotten: a lead with emails sent, erased by the marketer."""
    enter_lead(
        data={"first_name": "Lena", "last_name": "Fischer", "email": "lena.fischer@kontor.example",
              "company": "Kontor GmbH", "country": "DE", "need": "Lead routing for 12 reps",
              "source": Source.REFERRAL, "consent_status": "granted"},
        owner=users["rep_ann"], consent_how="asked on the phone", by=users["rep_ann"],
        now=now - timedelta(hours=2),
    )  # fmt: skip
    emailed = Send.objects.filter(status=Send.Status.SENT).order_by("pk").first()
    if emailed is not None:
        erase_person(
            lead_id=emailed.lead_id,
            by=users["marketer"],
            reason="Asked to be forgotten, by email",
            now=now - timedelta(hours=1),
        )


SEED_BATCH = 100


def _custom_fields_and_form(campaigns) -> None:
    define_custom_field(name="seats", label="Seats needed", type="number", choices=[])
    define_custom_field(
        name="crm_in_use", label="CRM in use", type="choice",
        choices=["Salesforce", "HubSpot", "Pipedrive", "Spreadsheet", "None"],
    )  # fmt: skip
    LeadForm.objects.create(
        slug="demo-request",
        name="Website demo request",
        fields=["email", "first_name", "last_name", "company", "phone", "custom.seats"],
        required=["email", "first_name"],
        source=Source.WEB_FORM,
        campaign=next(c for c in campaigns if c.code == "demo-form"),
        consent_text="Yes, send me LeadFlow product news by email.",
    )


def _duplicates(rng: random.Random, now: datetime, *, count: int) -> None:
    """The same people captured again under a private address: the Duplicates page's work."""
    with_phone = list(Lead.objects.exclude(phone=None).order_by("pk").values_list("pk", flat=True))
    for lead in Lead.objects.filter(pk__in=rng.sample(with_phone, min(count, len(with_phone)))):
        capture_lead(
            data={
                "email": f"{lead.first_name}.{lead.last_name}.{lead.pk}@gmail.com".lower(),
                "first_name": lead.first_name,
                "last_name": lead.last_name,
                "phone": lead.phone,
                "source": Source.WEB_FORM,
            },
            channel=Source.WEB_FORM,
            now=now - timedelta(hours=rng.randint(1, 72)),
        )


def _users() -> dict[str, object]:
    User = get_user_model()
    users = {}
    for username, first, last, group, _about in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@leadflow.example",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        users[username] = user
    team, _ = Team.objects.get_or_create(name="Inside Sales")
    team.members.add(users["rep_ann"], users["rep_bob"])
    team.managers.add(users["manager"])
    return users


def _campaigns(now: datetime) -> list[Campaign]:
    campaigns = []
    for offset, (code, name, channel, cost) in enumerate(CAMPAIGNS):
        start = (now - timedelta(days=180 - offset * 15)).date()
        campaign, _ = Campaign.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "channel": channel,
                "cost": Decimal(cost),
                "starts_on": start,
                "ends_on": min(start + timedelta(days=120), now.date() + timedelta(days=30))
                if channel != Source.ORGANIC
                else None,
            },
        )
        campaigns.append(campaign)
    return campaigns


# Behaviour of a typical lead, most common first.
EVENT_MIX = [
    ("page_view", 30), ("email_open", 20), ("pricing_page_view", 12), ("content_download", 10),
    ("email_click", 8), ("webinar_registered", 6), ("webinar_attended", 4), ("form_submit", 5),
    ("demo_request", 2), ("unsubscribe", 1),
]  # fmt: skip


def _events(rng: random.Random, lead_id: int, created: datetime, now: datetime) -> list[str]:
    kinds = [kind for kind, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    chosen = rng.choices(kinds, weights, k=rng.randint(0, 9))
    for kind in chosen:
        span = max(60.0, (now - created).total_seconds())
        at = created + timedelta(seconds=rng.uniform(0, span))
        record_event(lead_id=lead_id, type=kind, occurred_at=at, now=now)
    return chosen


SENIOR = ("VP", "Head", "Chief", "CMO", "CTO", "Director", "Founder")


def _promise(data: dict, events: list[str]) -> float:
    """How much likelier than the average lead this one moves on down the funnel: the
    demo's outcomes follow who the lead is and what it did, as real ones do, so the
    predictive model has something to find (and the rules something to learn)."""
    lift = 1.0
    if any(word in data["title"] for word in SENIOR):
        lift *= 1.3
    if "Student" in data["title"]:
        lift *= 0.3
    if data["company_size"] > 1000:
        lift *= 1.2
    if data["source"] in (Source.REFERRAL, Source.TRADE_SHOW):
        lift *= 1.4
    if data["email"].split("@")[1] in FREE_MAIL:
        lift *= 0.6
    return (
        lift * (1.25 if "demo_request" in events else 1) * 1.06 ** events.count("pricing_page_view")
    )


# From each stage: the chance of moving on, and where a lead that does not may end up.
STEPS = {
    Stage.NEW: (Stage.NURTURING, 0.75, Stage.DISQUALIFIED),
    Stage.NURTURING: (Stage.MQL, 0.45, None),
    Stage.MQL: (Stage.SAL, 0.7, Stage.NURTURING),
    Stage.SAL: (Stage.SQL, 0.6, Stage.DISQUALIFIED),
    Stage.SQL: (Stage.OPPORTUNITY, 0.55, Stage.LOST),
    Stage.OPPORTUNITY: (Stage.WON, 0.4, Stage.LOST),
}
SALES_STAGES = {Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.WON, Stage.LOST}
REASONS = {
    Stage.DISQUALIFIED: ["Student", "Competitor", "No budget", "Outside territory"],
    Stage.LOST: ["Chose a competitor", "No decision", "Budget cut", "Timing"],
    Stage.NURTURING: ["Not ready yet"],
}


def _lead(rng: random.Random, index: int, now: datetime, users, campaigns) -> int:
    """Capture one lead at a past instant and walk it down the funnel; returns its moves."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company, domain, size, industry, country = rng.choice(COMPANIES)
    campaign = rng.choice(campaigns)
    mail_domain = rng.choice(FREE_MAIL) if rng.random() < 0.12 else domain
    # The index keeps every demo identity unique whatever names the dice pick.
    email = f"{first}.{last}{index}@{mail_domain}".lower()
    created = now - timedelta(days=rng.uniform(1, 180), minutes=rng.randint(0, 1439))
    data = {
        "email": email,
        "first_name": first,
        "last_name": last,
        "title": rng.choice(TITLES),
        "company": company,
        "company_domain": domain,
        "company_size": max(1, int(size * rng.uniform(0.8, 1.2))),
        "industry": industry,
        "country": country,
        "source": campaign.channel,
        "campaign": campaign,
    }
    if rng.random() < 0.6:
        data["phone"] = f"{PHONE_PREFIX[country]}{index % 1000:03d}".replace(" ", "")
    if rng.random() < 0.3:
        data["need"] = rng.choice(["Lead routing", "Scoring", "Nurture emails", "Reporting"])
    if rng.random() < 0.5:
        data["custom"] = {
            "seats": rng.choice([5, 10, 25, 50, 120]),
            "crm_in_use": rng.choice(["Salesforce", "HubSpot", "Pipedrive", "Spreadsheet", "None"]),
        }
    consent = rng.random()
    if consent < 0.7:
        data["consent_status"] = "granted"
    elif consent < 0.75:
        data["consent_status"] = "denied"
    lead = capture_lead(data=data, channel=campaign.channel, now=created).lead
    promise = _promise(data, _events(rng, lead.pk, created, now))
    marketer = users["marketer"]

    moves, stage, when = 0, Stage.NEW, created
    while stage in STEPS:
        when += timedelta(days=rng.uniform(0.5, 12))
        if when >= now:
            break
        following, p_next, fallback = STEPS[stage]
        if rng.random() < min(0.95, p_next * (promise if stage != Stage.NEW else 1)):
            target, reason = following, ""
        elif fallback and rng.random() < 0.6:
            target, reason = fallback, rng.choice(REASONS[fallback])
        else:
            break
        moves += 1
        if stage == Stage.MQL:  # sales answers the handoff
            if target == Stage.SAL and demo_handoff.accept(lead.pk, now=when, rng=rng):
                stage = target
                continue
            demo_handoff.reject(lead.pk, now=when, rng=rng)
            break
        if stage == Stage.SAL and target == Stage.DISQUALIFIED:
            demo_handoff.reject(lead.pk, now=when, rng=rng, reason="bad_fit")
            break
        if target in (Stage.SQL, Stage.OPPORTUNITY, Stage.WON, Stage.LOST):
            if not demo_handoff.outcome(lead.pk, target, now=when, rng=rng, reason=reason):
                break
        else:
            move_stage(lead_id=lead.pk, to_stage=target, by=marketer, reason=reason, now=when)
            if target == Stage.MQL:
                demo_handoff.hand_off(lead.pk, now=when)
        if target != following:  # disqualified, lost, or sent back to nurturing: stop here
            break
        stage = target
    return moves
