"""Pages for members of partner organisations, one room each: signing in, the providers' beds,
the board, outreach on a phone, eyes and ears, people, referrals. Every route is on `common.router`."""

from api.routes.members import beds, board, eyes_and_ears, outreach, people, referrals, signing_in
from api.routes.members.common import router

__all__ = ["beds", "board", "eyes_and_ears", "outreach", "people", "referrals", "router", "signing_in"]
