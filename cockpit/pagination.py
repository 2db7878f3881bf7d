from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
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
