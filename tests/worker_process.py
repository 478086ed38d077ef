"""`dropsafe worker` with the tests' short timings (`--production-timings`: the defaults), as
a process of its own (so a test can SIGKILL it): settings from the environment, like the real
command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_harness import FAST_RETRY
from redis_harness import FAST_TIMINGS

from bot.redisqueue import Timings
from bot.settings import Settings
from bot.worker import work

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    timings = Timings() if "--production-timings" in sys.argv else FAST_TIMINGS
    asyncio.run(work(Settings.from_env(), timings, retry=FAST_RETRY, grace_period=0))
