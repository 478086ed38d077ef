"""One review of a pull-request head: check run, inline review, dedup and clean-up.

`run_review` is the entry point the job queue calls with an authenticated client.
"""

from bot.review.pipeline import run_review

__all__ = ["run_review"]
