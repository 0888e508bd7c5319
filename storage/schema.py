"""Every table Muster owns, in one metadata: what migrations compare against, what `muster db
copy` copies and what the tests truncate.

The core tables are in `storage.models`; each feature that adds tables keeps them in a module of
its own (on the same `Base`) and adds one import line here, so no table is ever missed.
"""

from __future__ import annotations

from sqlalchemy import MetaData

import storage.calls  # patch_calls
import storage.chapters  # chapters, chapter_zips, chapter_leaders, volunteer_chapters
import storage.districts  # volunteer_districts, target_districts, zip_districts, address_lookups
import storage.integrations  # integration_outbox, sync_runs
import storage.legislators  # legislators, call_reports
import storage.votes  # noqa: F401  (ballots, ballot_eligibility, votes)
from storage.models import Base

metadata: MetaData = Base.metadata
