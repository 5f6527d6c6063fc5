"""Every event family through the API, the broker and the worker onto the journey, its
timeline, the report's status and the statistics; and the refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.topics import INTAKE
from tests.builders import contact_body, local_noon, report_body, step_body
from tests.conftest import System

pytestmark = pytest.mark.integration


@pytest.mark.clock
def test_every_family_reaches_the_journey_the_report_status_and_the_statistics(system: System) -> None:
    # Noon six days ago: the contact at 15:05 is that date's night, inside the period asked for.
    start = local_noon(6, system.settings.zone)
    report = system.post("/v1/reports", report_body(at=start, details={"wants_update": True}))
    assert report.status_code == 202, report.text
    person, report_id = report.json()["person_id"], report.json()["event_id"]
    # The worker routes the report to the area's team as it passes the identity step.
    routed = system.wait_journey(person, events=2)
    assert routed["provisional"] is True
    assert routed["open_reports"][0]["team"] == "town-centre-outreach"

    at = start + timedelta(hours=3)
    steps = [
        ("/v1/reports/" + report_id + "/steps", system.outreach_key,
         {"what": "attempted", "occurred_at": at.isoformat(), "team": "town-centre-outreach"}),
        ("/v1/contacts", system.outreach_key, contact_body(person, at=at + timedelta(minutes=5))),
        ("/v1/reports/" + report_id + "/steps", system.outreach_key,
         {"what": "outcome", "occurred_at": (at + timedelta(minutes=10)).isoformat(),
          "outcome": "found_and_engaged"}),
        ("/v1/reports/" + report_id + "/steps", system.outreach_key,
         {"what": "reporter_told", "occurred_at": (at + timedelta(hours=1)).isoformat()}),
        # Outreach makes The Brick the key worker's organisation: from then on it works with the
        # person, and may record their strengths, course and job.
        ("/v1/cases", system.outreach_key, step_body(person, "key_worker_assigned", at + timedelta(hours=2),
                                                     {"key_worker": "KW12", "organisation": "the-brick"})),
        ("/v1/cases", system.brick_key,
         step_body(person, "strengths_recorded", at + timedelta(hours=3), {},
                   {"strengths": ["good with people"], "goals": ["see my daughter"]})),
        ("/v1/duties", system.council_key,
         step_body(person, "relief_started", at + timedelta(days=1), {"local_authority": "Wigan"})),
        ("/v1/accommodation", system.council_key,
         step_body(person, "supported_housing_entered", at + timedelta(days=2), {"provider": "Brick House"})),
        ("/v1/work", system.brick_key,
         step_body(person, "course_enrolled", at + timedelta(days=3), {"programme": "Kitchen skills"})),
        ("/v1/duties", system.council_key,
         step_body(person, "relief_ended", at + timedelta(days=4),
                   {"local_authority": "Wigan", "outcome": "accommodation_secured"})),
        ("/v1/accommodation", system.council_key,
         step_body(person, "tenancy_started", at + timedelta(days=5), {"provider": "Wigan Council"})),
        ("/v1/work", system.brick_key,
         step_body(person, "job_started", at + timedelta(days=5, hours=1), {"programme": "Cafe 73"})),
    ]
    for path, key, body in steps:
        answer = system.call("POST", path, key, body)
        if answer.status_code == 404 and key == system.brick_key:
            # A write needs the right to see: the key worker assigned a moment ago may not be
            # applied yet.
            answer = system.wait_for("The Brick to work with the person", lambda p=path, k=key, b=body: (
                r if (r := system.call("POST", p, k, b)).status_code != 404 else None))
        assert answer.status_code == 202, (path, answer.text)

    journey = system.wait_journey(person, events=2 + len(steps))
    assert [e["type"] for e in journey["timeline"]] == [
        "report.received", "report.routed", "report.attempted", "contact.recorded", "report.outcome",
        "report.reporter_told", "case.key_worker_assigned", "case.strengths_recorded", "duty.relief_started",
        "accommodation.supported_housing_entered", "work.course_enrolled", "duty.relief_ended",
        "accommodation.tenancy_started", "work.job_started",
    ]
    assert [e["source"] for e in journey["timeline"]][-3:] == ["the-council", "the-council", "the-brick"]
    assert journey["stage"] == "tenancy"
    assert journey["provisional"] is False  # an outreach worker met the person
    assert (journey["training"], journey["work"], journey["duty"]) == ("on_course", "in_work", None)
    assert journey["duty_outcomes"] == ["relief:accommodation_secured"]
    assert journey["case"]["key_worker"] == "KW12"
    assert (journey["strengths"], journey["goals"]) == (["good with people"], ["see my daughter"])
    assert journey["next_step"] == "Offer a bed again tomorrow"
    assert journey["open_reports"] == []
    assert journey["status"] == "housed"  # in a tenancy: Built for Zero counts them as housed

    status = system.call("GET", f"/v1/reports/{report_id}", system.frontline_key)
    assert status.status_code == 200, status.text
    told = status.json()
    assert (told["status"], told["outcome"], told["overdue"]) == ("closed", "found_and_engaged", False)
    assert told["reporter_told_at"] is not None
    assert "person_id" not in told and "Dave" not in status.text and "red coat" not in status.text

    day = start.date()
    stats = system.call("GET", f"/v1/statistics?start={day}&end={day + timedelta(days=7)}",
                        system.council_key).json()
    assert stats["chain"]["new"] == 1 and stats["chain"]["seen"] == 1
    assert stats["reports"]["received"] == 1 and stats["reports"]["attempted_within_target"] == 1
    assert stats["reports"]["outcomes"] == {"found_and_engaged": 1}
    assert (stats["reports"]["reporter_wanted_update"], stats["reports"]["reporter_told"]) == (1, 1)
    assert stats["built_for_zero"]["newly_identified"] == 1 and stats["built_for_zero"]["housed"] == 1
    assert stats["built_for_zero"]["active"] == 0
    assert stats["moves"]["accommodation.tenancy_started"] == 1
    other_area = system.call("GET", f"/v1/statistics?start={day}&end={day + timedelta(days=7)}&area=ELSEWHERE",
                             system.council_key).json()
    assert other_area["chain"]["seen"] == 0 and other_area["reports"]["received"] == 0


@pytest.mark.clock
def test_an_unattempted_report_is_overdue_after_its_areas_target(make_settings) -> None:  # noqa: ANN001
    running = System(make_settings(report_response_hours={"*": 24.0, "TC-MARKET": 1.0}))
    running.start_worker()
    try:
        late = running.post("/v1/reports", report_body(at=datetime.now(UTC) - timedelta(hours=2)))
        fresh = running.post("/v1/reports", report_body(at=datetime.now(UTC) - timedelta(hours=2),
                                                        details={"area_code": "TC-PARK"}))
        running.wait_journey(fresh.json()["person_id"], events=2)
        running.wait_journey(late.json()["person_id"], events=2)
        overdue = running.call("GET", "/v1/reports/overdue", running.outreach_key).json()
        assert [r["report_id"] for r in overdue] == [late.json()["event_id"]]
        assert overdue[0]["team"] == "town-centre-outreach" and overdue[0]["overdue"] is True
    finally:
        running.close()


def test_refusals_name_the_problem_and_put_nothing_on_the_topic(system: System) -> None:
    person = "00000000-0000-4000-8000-000000000001"
    now = datetime.now(UTC) - timedelta(minutes=1)
    cases = [
        ("/v1/duties", system.council_key, step_body(person, "relief_ended", now, {"local_authority": "Wigan"}),
         422, "details.outcome"),
        ("/v1/cases", system.outreach_key, step_body(person, "closed", now, {}), 422, "details.close_reason"),
        ("/v1/cases", system.outreach_key, step_body(person, "strengths_recorded", now, {}), 422,
         "personal.strengths"),
        ("/v1/accommodation", system.council_key, step_body(person, "reconnected", now, {}), 422, "details.to_area"),
        ("/v1/accommodation", system.council_key, step_body(person, "moved_to_mars", now, {}), 422, "what"),
        ("/v1/accommodation", system.frontline_key, step_body(person, "tenancy_started", now, {}), 403, "frontline"),
        ("/v1/duties", system.brick_key, step_body(person, "relief_started", now, {"local_authority": "W"}), 403,
         "charity"),
        ("/v1/reports/00000000-0000-4000-8000-000000000002/steps", system.outreach_key,
         {"what": "attempted", "occurred_at": now.isoformat()}, 404, "no such report"),
        ("/v1/reports/00000000-0000-4000-8000-000000000002/steps", system.outreach_key,
         {"what": "outcome", "occurred_at": now.isoformat()}, 422, "outcome is required"),
        ("/v1/identity/merges", system.outreach_key, {"person_id": person, "other": person}, 422, "same record"),
        ("/v1/identity/merges", system.outreach_key,
         {"person_id": person, "other": "00000000-0000-4000-8000-000000000003"}, 404, "must be known"),
    ]
    for path, key, body, code, said in cases:
        answer = system.call("POST", path, key, body)
        assert answer.status_code == code, (path, body, answer.text)
        assert said in answer.text, (said, answer.text)
    bad_period = system.call("GET", "/v1/statistics?start=2026-02-01&end=2026-01-01", system.council_key)
    assert bad_period.status_code == 422 and "end must be after start" in bad_period.text
    assert system.topic_records(INTAKE) == []
