from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination, PageNumberPagination


class IdsFirstPaginator(Paginator):
    """Django's paginator, but a page's ids are read first and its rows then by id: an offset
    over whole rows (with their status, owner, company and sync record joined) builds every
    row before the page and throws it away, 1.5 s for page 400 of 200 at issue 19's scale on
    SQLite; the ids alone come from the ordering's index (task_due_id) in a few ms, and the
    page's 200 rows are then read by primary key. Same rows, same order: one query more past
    the first page."""

    def page(self, number: Any) -> Page:
        if not isinstance(self.object_list, QuerySet) or self.object_list.query.values_select:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom == 0:  # no offset to walk: the rows at once, one query less
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = self.object_list.in_bulk(ids) if ids else {}
        # A row deleted between the two reads is left out, as a later page would not show it.
        return Page([rows[pk] for pk in ids if pk in rows], number, self)


class StandardPagination(PageNumberPagination):
    django_paginator_class = IdsFirstPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class IdCursorPagination(CursorPagination):
    """Pages by a cursor instead of a page number (`?paging=cursor`, then the `next` and
    `previous` links): page 400 costs what page 1 does, where an offset makes the database
    walk every row before it, and no COUNT(*) of the whole list is made (issue 19).

    The cursor walks the list in id order (the order tasks were made): a unique, indexed,
    never-null column, so every row comes exactly once even while rows are added or deleted
    between pages. Other orderings are for the page-number list."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "id"
