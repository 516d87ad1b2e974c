"""Pagination of list pages: `?page=N` (from 1), a fixed page size, links kept with filters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @classmethod
    def of(cls, request: Request, size: int = PAGE_SIZE) -> Paging:
        raw = request.query_params.get("page", "1")
        page = int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1
        return cls(max(page, 1), size)


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What a template needs to draw "previous / page N of M / next"."""

    page: int
    pages: int
    total: int
    previous: str | None
    next: str | None


def page_links(request: Request, paging: Paging, total: int) -> PageLinks:
    pages = max(1, -(-total // paging.size))
    params = {k: v for k, v in request.query_params.items() if k != "page"}

    def link(page: int) -> str:
        return f"{request.url.path}?{urlencode({**params, 'page': page})}"

    return PageLinks(
        page=paging.page,
        pages=pages,
        total=total,
        previous=link(paging.page - 1) if paging.page > 1 else None,
        next=link(paging.page + 1) if paging.page < pages else None,
    )
