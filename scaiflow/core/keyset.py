"""The one keyset condition on (`created_at`, `id`): the rows past a given row in that order.

Lists newest first (`pagination.KeysetPagination`) and batch jobs oldest first (audit
archiving, pruning) walk tables of millions of rows this way: an index range read from a
position, with no OFFSET.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q


def keyset_beyond(
    created_at: datetime, pk: int | str, *, older: bool, inclusive: bool = False
) -> Q:
    """The rows older (`older`) or newer than the row (`created_at`, `pk`), that row too when
    `inclusive`. The bare bound on `created_at` bounds the index range; the OR alone would not.
    """
    side = "lt" if older else "gt"
    same_moment = Q(created_at=created_at, **{f"pk__{side}{'e' if inclusive else ''}": pk})
    return Q(**{f"created_at__{side}e": created_at}) & (
        Q(**{f"created_at__{side}": created_at}) | same_moment
    )
