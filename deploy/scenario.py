"""A town centre over twelve weeks: people, the organisations that meet them, and the truth.

The generator plays out each person's story (first seen, nights on the street, help declined
or taken, beds of supported housing, tenancies, courses and jobs, returns to the street, cases
closed) and writes down, as it goes, what practitioners would count: which nights outreach saw
them bedded down, the nights their Built for Zero status changed, every report's outcome, every
move. Those counts are the ground truth the end-to-end test compares the platform's statistics
with; the platform itself never sees them.

Some people are first known only from a public report (a provisional person that outreach
later confirms); some are recorded twice by outreach under different street names (duplicates
that a worker merges). Both must count once.

Every submission is a (phase, path, role, body). Phase 1 is everything a client can send at
once; phase 2 needs phase 1 to have reached the read model (report outcomes need the report
routed, merges need both records, a referral's acceptance needs the referral); phase 3 needs
phase 2 (The Brick records courses and jobs once its referral is accepted).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID, uuid5

from api.intake import Envelope, build_event
from journey.nights import night_of
from readmodel.data_keys import Keyring
from readmodel.keys import Principal, Role
from schemas.events import Event
from schemas.ids import keyed_id, provisional_person_id
from schemas.submissions import (
    AccommodationSubmission,
    CaseSubmission,
    ContactSubmission,
    ReportSubmission,
    WorkSubmission,
)

SCENARIO = UUID("5c2f7c1e-3d4b-5a6f-8e9d-0a1b2c3d4e5f")
AREAS = ("TC-MARKET", "TC-STATION", "TC-PARK", "TC-LIBRARY")
NAMES = ("Jonno", "Dave", "Mags", "Scouse", "Kel", "Tiny", "Ro", "Bird", "Danny", "Lou", "Shell", "Mick", "Steph",
         "Kaz", "Gaz", "Bex", "Woody", "Titch", "Jacko", "Nell")
MISSPELT = {"Jonno": "Jono", "Dave": "Davey", "Mags": "Maggs", "Kel": "Kell", "Danny": "Dany", "Shell": "Shel",
            "Mick": "Mik", "Steph": "Stef", "Kaz": "Kazz", "Gaz": "Gazz", "Bex": "Becks", "Nell": "Nel"}
WEEKS = 12
PERIOD_DAYS = 28
TEAM = "town-centre-outreach"


@dataclass
class Truth:
    """What practitioners would count, per 28-day period, written down by the story itself."""

    start: date
    nights: dict[int, set[date]] = field(default_factory=dict)  # true person -> nights seen bedded down
    changes: list[tuple[date, str]] = field(default_factory=list)  # (day, Built for Zero change)
    active_at: dict[int, list[tuple[date, bool]]] = field(default_factory=dict)
    reports: list[tuple[date, str, str]] = field(default_factory=list)  # (day, area, outcome)
    moves: list[tuple[date, str]] = field(default_factory=list)

    def periods(self) -> list[tuple[date, date]]:
        return [(self.start + timedelta(days=k * PERIOD_DAYS), self.start + timedelta(days=(k + 1) * PERIOD_DAYS))
                for k in range(WEEKS * 7 // PERIOD_DAYS)]

    def expected(self, start: date, end: date) -> dict[str, Any]:
        previous = start - (end - start)
        chain = Counter(dict.fromkeys(("seen", "new", "stock", "returner", "living_on_streets", "intermittent"), 0))
        for nights in self.nights.values():
            here = sorted(n for n in nights if start <= n < end)
            if not here:
                continue
            chain["seen"] += 1
            before = [n for n in nights if n < start]
            if not before:
                chain["new"] += 1
                continue
            chain["stock" if any(n >= previous for n in before) else "returner"] += 1
            lots = len(here) >= 5 and (here[-1] - here[0]).days >= 21
            chain["living_on_streets" if lots else "intermittent"] += 1
        flows = Counter(kind for day, kind in self.changes if start <= day < end)
        last_day = end - timedelta(days=1)
        active = sum(1 for story in self.active_at.values() if _active_on(story, last_day))
        outcomes = Counter(outcome for day, _, outcome in self.reports if start <= day < end)
        return {
            "chain": dict(chain),
            "built_for_zero": {"active": active, **{k: flows[k] for k in (
                "newly_identified", "returned_from_housing", "housed", "moved_to_inactive")}},
            "reports": {"received": sum(outcomes.values()), "outcomes": dict(sorted(outcomes.items()))},
            "moves": dict(sorted(Counter(kind for day, kind in self.moves if start <= day < end).items())),
        }


def _active_on(story: list[tuple[date, bool]], day: date) -> bool:
    state = False
    for when, active in story:
        if when > day:
            break
        state = active
    return state


@dataclass
class Scenario:
    submissions: list[tuple[int, str, str, dict[str, Any]]]
    truth: Truth
    people: int
    organisations: dict[str, str]  # role -> the organisation that sends its submissions

    def phase(self, number: int) -> list[tuple[str, str, dict[str, Any]]]:
        return [(path, role, body) for phase, path, role, body in self.submissions if phase == number]


# The organisation each role's submissions come from (the demo's keys: deploy/cli.py). Event ids
# are the platform's, derived from the organisation and the client's id, so a later submission
# naming a report or a new person must know who sent the first.
ORGANISATIONS = {"frontline": "council-street-services", "outreach": "town-centre-outreach",
                 "council": "town-council", "charity": "the-brick"}


def generate(today: date, zone: tzinfo, people: int = 1000, seed: int = 12,
             organisations: dict[str, str] | None = None) -> Scenario:
    """Twelve weeks ending yesterday (local dates), for `people` people, sent by `organisations`
    (role -> organisation; ORGANISATIONS by default)."""
    sender = organisations or ORGANISATIONS

    def first_of(role: str, client_id: str) -> str:
        """The person first described by what `role` sent under `client_id`."""
        return str(provisional_person_id(keyed_id(sender[role], client_id)))

    rng = random.Random(seed)
    start = today - timedelta(days=WEEKS * 7)
    truth = Truth(start=start)
    out: list[tuple[int, str, str, dict[str, Any]]] = []

    def ident(*parts: object) -> str:
        return str(uuid5(SCENARIO, "/".join(map(str, parts))))

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        d = start + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=zone)

    for p in range(people):
        story = rng.choices(["brief", "long_term", "returner", "decliner", "housed"], [30, 20, 15, 10, 25])[0]
        area = rng.choice(AREAS)
        name = NAMES[p % len(NAMES)]
        first = rng.randint(0, WEEKS * 7 - 15)
        # Who the person is on the platform: a provisional person from a public report, or a
        # record an outreach worker creates at the first contact (street-first).
        reported_first = rng.random() < 0.4
        record: str | None = None
        if reported_first:
            report_id = ident(p, "report")
            record = first_of("frontline", report_id)
            report = keyed_id(sender["frontline"], report_id)
            seen_at = at(first, 21, rng.randint(0, 59))
            wants = rng.random() < 0.6
            out.append((1, "/v1/reports", "frontline", {
                "event_id": report_id, "occurred_at": seen_at.isoformat(),
                "details": {"channel": rng.choice(["public", "staff", "police"]), "area_code": area,
                            "over_18": True, "wants_update": wants},
                "personal": {"person_description": f"Sleeping out near the {area[3:].lower()}, {_look(rng)}"},
            }))
            found = rng.random() < 0.8
            outcome = "found_and_engaged" if found else rng.choice(["not_found", "no_longer_there"])
            truth.reports.append((start + timedelta(days=first), area, outcome))
            attempted = at(first + 1, 6, rng.randint(0, 59))
            out.append((2, f"/v1/reports/{report}/steps", "outreach",
                        {"event_id": ident(p, "attempt"), "what": "attempted", "occurred_at": attempted.isoformat(),
                         "team": TEAM}))
            out.append((2, f"/v1/reports/{report}/steps", "outreach",
                        {"event_id": ident(p, "outcome"), "what": "outcome",
                         "occurred_at": (attempted + timedelta(minutes=20)).isoformat(), "outcome": outcome}))
            if wants:
                out.append((2, f"/v1/reports/{report}/steps", "outreach",
                            {"event_id": ident(p, "told"), "what": "reporter_told",
                             "occurred_at": at(first + 3, 11).isoformat()}))
            if not found:
                first += rng.randint(2, 5)  # outreach meets them a few days later
        nights: list[int] = _nights(rng, story, first)
        duplicate_from = len(nights) // 2 if story == "long_term" and rng.random() < 0.3 and len(nights) > 4 else None
        duplicate: str | None = None
        changes: list[tuple[int, str, bool]] = []  # (day, change, active after)
        active = False
        housed_day: int | None = None
        for k, day in enumerate(nights):
            early = rng.random() < 0.5  # the early-morning walk finds last night's sleepers
            moment = at(day + 1, 5, rng.randint(0, 59)) if early else at(day, 23, rng.randint(0, 59))
            event_id = ident(p, "night", k)
            target = record
            if duplicate_from is not None and k >= duplicate_from and k % 2 == 1:
                # Another worker does not recognise them and starts a second record.
                if duplicate is None:
                    duplicate = first_of("outreach", event_id)
                    target = None
                else:
                    target = duplicate
            engaged = story != "decliner" and (k > 0 or rng.random() < 0.5)
            on_duplicate = duplicate is not None and target in (None, duplicate)
            known_as = MISSPELT.get(name, name + "o") if on_duplicate else name
            body = _contact(event_id, target, moment, area, engaged, known_as)
            out.append((1, "/v1/contacts", "outreach", body))
            if record is None:
                record = first_of("outreach", event_id)
            truth.nights.setdefault(p, set()).add(start + timedelta(days=day))
            if not active:
                # The early-morning walk's contact belongs to the night before: the same night.
                changes.append((day,
                                "newly_identified" if housed_day is None else "returned_from_housing", True))
                active = True
            if story == "returner" and k + 1 < len(nights) and nights[k + 1] - day > 10:
                # Housed for a while between two spells on the street.
                housed_day = day + 2
                _housing(out, ident, p, record, at(housed_day, 14), "supported_housing_entered", truth)
                changes.append((housed_day, "housed", False))
                active = False
        # Day-time contacts (not bedded down) with those who engage, between the nights.
        for k in range(rng.randint(1, 8) if story != "brief" else 0):
            day = rng.choice(nights)
            out.append((1, "/v1/contacts", "outreach", _contact(
                ident(p, "day", k), record, at(day + 1, 13, rng.randint(0, 59)), area, story != "decliner", name,
                bedded_down=False)))
        last = max(nights) + 1
        if story == "housed" and last + 3 < WEEKS * 7:
            moved = last + rng.randint(2, 3)
            _housing(out, ident, p, record, at(moved, 15), "supported_housing_entered", truth)
            changes.append((moved, "housed", False))
            if moved + 10 < WEEKS * 7 and rng.random() < 0.5:
                _housing(out, ident, p, record, at(moved + 10, 11), "tenancy_started", truth)
            if moved + 5 < WEEKS * 7 and rng.random() < 0.5:
                # Outreach refers the person to The Brick, which accepts: only then may it record
                # their course and job.
                referral = ident(p, "referral")
                out.append((1, "/v1/referrals", "outreach", {
                    "event_id": referral, "person_id": record, "to_organisation": sender["charity"],
                    "occurred_at": at(moved + 4, 10).isoformat(), "reason": "Kitchen skills course",
                    "categories": ["core", "strengths_goals"], "consent_obtained": "verbal"}))
                out.append((2, f"/v1/referrals/{keyed_id(sender['outreach'], referral)}/accept", "charity", {
                    "event_id": ident(p, "referral-accepted"), "occurred_at": at(moved + 4, 15).isoformat()}))
                _step(out, ident(p, "course"), "/v1/work", "charity", record, at(moved + 5, 10), "course_enrolled",
                      {"programme": "Kitchen skills", "provider": "The Brick"}, truth, "work.course_enrolled", phase=3)
                if moved + 8 < WEEKS * 7 and rng.random() < 0.5:
                    _step(out, ident(p, "job"), "/v1/work", "charity", record, at(moved + 8, 9), "job_started",
                          {"programme": "Cafe 73"}, truth, "work.job_started", phase=3)
        if story in ("long_term", "housed", "returner"):
            _step(out, ident(p, "kw"), "/v1/cases", "outreach", record, at(nights[0] + 1, 12), "key_worker_assigned",
                  {"key_worker": f"KW{p % 9 + 1:02d}"}, None, "")
        if story == "brief" and active and rng.random() < 0.3 and last + 2 < WEEKS * 7:
            closed = last + 2
            _step(out, ident(p, "closed"), "/v1/cases", "outreach", record, at(closed, 16), "closed",
                  {"close_reason": "moved_away"}, None, "")
            changes.append((closed, "moved_to_inactive", False))
            active = False
        if duplicate is not None:
            out.append((2, "/v1/identity/merges", "outreach",
                        {"event_id": ident(p, "merge"), "person_id": duplicate, "other": record,
                         "reason": "same person, two street names"}))
        truth.changes.extend((start + timedelta(days=day), kind) for day, kind, _ in changes)
        truth.active_at[p] = [(start + timedelta(days=day), now_active) for day, kind, now_active in changes]
    # As a live feed would send them: in the order things happened, phase by phase.
    out.sort(key=lambda s: (s[0], datetime.fromisoformat(s[3].get("occurred_at", "1970-01-01T00:00:00+00:00"))))
    return Scenario(submissions=out, truth=truth, people=people, organisations=sender)


def _nights(rng: random.Random, story: str, first: int) -> list[int]:
    """Which nights outreach finds the person bedded down (day indexes of the nights)."""
    last_night = WEEKS * 7 - 2
    if story == "brief":
        return sorted({first, *(first + rng.randint(1, 4) for _ in range(rng.randint(0, 1)))} - {last_night + 1})
    if story == "returner":
        early = [first + 2 * k for k in range(rng.randint(2, 4))]
        gap = early[-1] + rng.randint(30, 40)
        late = [gap + 2 * k for k in range(rng.randint(2, 4)) if gap + 2 * k <= last_night]
        return early + late if late else early
    count = rng.randint(4, 30) if story != "housed" else rng.randint(2, 8)
    nights = sorted({min(last_night, first + k * rng.randint(1, 3)) for k in range(count)})
    return nights


def _look(rng: random.Random) -> str:
    return rng.choice(["green sleeping bag", "red coat and a dog", "grey hoodie", "wheelchair", "blue tent",
                       "army jacket", "two rucksacks"])


def _contact(event_id: str, person: str | None, moment: datetime, area: str, engaged: bool, name: str,
             bedded_down: bool = True) -> dict[str, Any]:
    offered = ["emergency_bed", "food"] if engaged else ["food"]
    return {
        "event_id": event_id, "person_id": person, "occurred_at": moment.isoformat(),
        "details": {"team": TEAM, "worker": "W0" + event_id[-1], "area_code": area, "bedded_down": bedded_down,
                    "engaged": engaged, "offered": offered, "accepted": offered[:1] if engaged else []},
        "personal": {"known_as": name, "name_quality": "street_name", "next_step": "Meet on the morning walk"},
    }


def _housing(out: list, ident: Any, p: int, person: str | None, moment: datetime, what: str,
             truth: Truth) -> None:
    _step(out, ident(p, what), "/v1/accommodation", "council", person, moment, what, {"provider": "Brick House"},
          truth, f"accommodation.{what}")


def _step(out: list, event_id: str, path: str, role: str, person: str | None, moment: datetime, what: str,
          details: dict[str, Any], truth: Truth | None, move: str, phase: int = 1) -> None:
    out.append((phase, path, role, {"event_id": event_id, "person_id": person, "what": what,
                                "occurred_at": moment.isoformat(), "details": details}))
    if truth is not None and move:
        truth.moves.append((night_of(moment, moment.tzinfo), move))


def intake_records(scenario: Scenario, recorded_at: datetime,
                   keys: Keyring | None = None) -> tuple[list[tuple[bytes, bytes]], int]:
    """Phase 1 as the API would put it on the intake topic (for the benchmark, which measures
    the worker and not HTTP), sealed with `keys` as the API seals it (unsealed without, to
    measure what sealing costs), and how many timeline entries it makes (a report makes two).
    Referrals are left out: the API makes their events from a request (api/routes/referrals.py),
    and phase 1 holds only the few made for The Brick."""
    kinds = {"/v1/reports": ReportSubmission, "/v1/contacts": ContactSubmission,
             "/v1/accommodation": AccommodationSubmission, "/v1/work": WorkSubmission, "/v1/cases": CaseSubmission}
    records: list[tuple[bytes, bytes]] = []
    built: list[tuple[UUID, Event]] = []
    entries = 0
    for path, role, body in scenario.phase(1):
        if path not in kinds:
            continue
        submission = kinds[path].model_validate(body)
        organisation = scenario.organisations[role]
        principal = Principal(key_id="scenario", member_id="scenario", organisation=organisation, role=Role(role))
        event = build_event(submission, Envelope.of(principal, recorded_at, str(submission.event_id)))
        built.append((event.subject or provisional_person_id(event.id), event))
        entries += 2 if path == "/v1/reports" else 1
    if keys is not None:
        # Every person's key made in one transaction, rather than one for each new person.
        keys.sealing({str(subject) for subject, _ in built}, recorded_at)
    for subject, event in built:
        sealed = keys.seal(event, subject, recorded_at) if keys is not None else event
        records.append((str(subject).encode(), sealed.model_dump_json().encode()))
    return records, entries
