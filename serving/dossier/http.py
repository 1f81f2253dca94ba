"""``POST /dossier``'s work, apart from the BentoML class (:mod:`serving.service` only
routes to it): produce the record for the caller and answer it as HTML or PDF, with the
headers a family's document needs (no caching, no sniffing, a file name for the PDF)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from starlette.responses import Response

from serving.auth import Principal
from serving.dossier.build import OutOfScopeDossierError
from serving.dossier.produce import DossierDesk
from serving.dossier.render import Format
from serving.i18n import Language


def dossier_work(
    desk: DossierDesk,
    *,
    family_id: str | None,
    as_of: date | None,
    score_id: str | None,
    lang: Language,
    fmt: Format,
    refused: Callable[[Principal, str], None],
) -> Callable[[Principal, str], Response]:
    """The handler's work: (principal, request_id) -> the record's response. A family
    outside the caller's regions is passed to ``refused`` (the security log) and then
    answered like an unknown one."""

    def work(principal: Principal, request_id: str) -> Response:
        try:
            made = desk.produce(
                family_id=family_id,
                as_of=as_of,
                score_id=score_id,
                lang=lang,
                fmt=fmt,
                principal=principal,
                request_id=request_id,
            )
        except OutOfScopeDossierError:
            refused(principal, request_id)
            raise
        headers = {
            "X-Request-ID": request_id,
            "X-Dossier-Score-ID": made.score_id,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Language": lang,
        }
        if fmt == "pdf":
            headers["Content-Disposition"] = f'attachment; filename="dossier-{made.score_id}.pdf"'
        return Response(made.content, media_type=made.media_type, headers=headers)

    return work
