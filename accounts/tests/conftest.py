from __future__ import annotations

from collections.abc import Iterator

import pytest

from tlog import services
from tlog.invariants import log_check
from tlog.models import Log


@pytest.fixture
def rekor_log(db: None) -> Iterator[Log]:
    """A fresh active Rekor log; its invariants are checked after the test (STYLE habit 6)."""
    log = services.log_create(kind=Log.Kind.REKOR)
    yield log
    for each in Log.objects.all():
        if not each.fault:
            assert log_check(each) == [], f"invariants of {each}"
