"""Who may see what: the kinds of organisation, and the kind of information each field holds.

The sharing policy (journey/policy.py) decides which categories a viewer may see; every field of
an event family and of the API's views of a person carries one, so a new field cannot be added
without saying what it is (tests/unit/journey/test_policy.py walks them all). The category is published
in the OpenAPI document as `x-category`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo


class OrganisationType(StrEnum):
    """What an organisation is; the sharing policy and the write rules are per type."""

    COUNCIL = "council"  # housing options and the council's own analysts
    OUTREACH = "outreach"  # street outreach teams: record contacts, work reports
    CHARITY = "charity"  # partner charities such as The Brick
    HOUSING_PROVIDER = "housing_provider"  # emergency beds and supported housing
    POLICE = "police"
    HEALTH = "health"
    FRONTLINE = "frontline"  # "eyes and ears" staff who report sightings
    PUBLIC = "public"  # the public reporting app
    ADMIN = "admin"  # the platform's operators: members and keys, never people's data


class Category(StrEnum):
    """Kinds of information about a person, from least to most sensitive."""

    CONTACT_POINT = "contact_point"  # whether outreach knows the person, and whom to call
    COORDINATION = "coordination"  # stage, last area seen, an open bed, the next step
    CORE = "core"  # who the person is and what happened: names, date of birth, description, timeline
    CONTACT_DETAILS = "contact_details"  # where to find the person: the place they sleep
    STRENGTHS_GOALS = "strengths_goals"  # what matters to the person, in their words
    SUPPORT_NEEDS = "support_needs"  # needs, notes, domestic abuse, benefits
    HEALTH = "health"  # physical and mental health, alcohol and drugs
    OFFENDING = "offending"
    IMMIGRATION = "immigration"
    REPORTER = "reporter"  # the contact details of the member of the public who reported


# Special categories (UK GDPR art. 9 and 10, and what practitioners treat as such): never seen
# without both a relationship and the person's consent.
SPECIAL = frozenset({Category.SUPPORT_NEEDS, Category.HEALTH, Category.OFFENDING, Category.IMMIGRATION})

_KEY = "x-category"


def of(category: Category) -> FieldInfo:
    """Field metadata declaring a category: `name: Annotated[str, of(Category.CORE)]`."""
    declared: FieldInfo = Field(json_schema_extra={_KEY: category.value})
    return declared


def category_of(model: type[BaseModel], name: str) -> Category | None:
    """The declared category of a model's field (None: undeclared, which a test forbids)."""
    extra: Any = model.model_fields[name].json_schema_extra
    return Category(extra[_KEY]) if isinstance(extra, dict) and _KEY in extra else None
