"""POST /batch-jobs (JSON list, CSV body or CSV upload) and GET /batch-jobs/<job_id>.

Records are validated here, so a job never starts on bad input; scoring, persistence and cache
filling happen in the rq job (`adapters.jobs`, run by the worker).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Annotated, NamedTuple

from flask import Blueprint, Request
from pydantic import StringConstraints, TypeAdapter, ValidationError
from redis.exceptions import RedisError

from adapters import jobs
from adapters.settings import Settings
from api.body import check_size, is_json, parse_json, read_body, unsupported_media_type
from api.endpoints import BAD_BODY, JSON, Endpoint, PathParameter, Schema
from api.errors import ApiError, invalid_field, json_response, unavailable, validation_failed
from api.schemas import (
    BatchJobAccepted,
    BatchJobStatus,
    ErrorBody,
    InstallRecord,
    batch_job_models,
)
from api.services import Services, current_services
from scorer.schema import RECORD_COLUMNS

blueprint = Blueprint("batch_jobs", __name__)
RECORDS = TypeAdapter(list[InstallRecord])
CSV = "text/csv"
CSV_TYPES = (CSV, "application/csv")
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
"""The form field of a CSV upload."""
JOB_ID_PATTERN = "[A-Za-z0-9_-]{1,128}"
"""What a job id can look like (rq's rule); anything else cannot name a job."""
JOB_ID_FORM = re.compile(JOB_ID_PATTERN)


def _csv_rows(data: bytes) -> tuple[list[dict], list[str]]:
    """Rows of a CSV (record columns only) and the header columns that were ignored."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "CSV is not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        known = [name for name in header if name in RECORD_COLUMNS]
        if not known:
            known_columns = ", ".join(RECORD_COLUMNS)
            raise invalid_field(FILE_FIELD, f"the CSV header has none of {known_columns}")
        rows = [{name: row.get(name) for name in known} for row in reader]
    except csv.Error as error:
        raise ApiError(400, "bad_request", f"malformed CSV: {error}") from None
    return rows, [name for name in header if name not in RECORD_COLUMNS]


def _json_rows(data: bytes) -> list:
    body = parse_json(data)
    if isinstance(body, dict) and set(body) == {"records"}:
        body = body["records"]
    if not isinstance(body, list):
        raise invalid_field("body", 'must be a list of records or {"records": [...]}')
    return body


def _read_rows(request: Request, limit: int) -> tuple[list, list[str]]:
    mimetype = request.mimetype
    if is_json(mimetype):
        return _json_rows(read_body(request, limit)), []
    if mimetype in CSV_TYPES:
        return _csv_rows(read_body(request, limit))
    if mimetype == MULTIPART:
        upload = request.files.get(FILE_FIELD)
        if upload is not None:
            return _csv_rows(upload.read())
        if FILE_FIELD in request.form:  # sent as a plain form field rather than a file
            return _csv_rows(request.form[FILE_FIELD].encode())
        message = f"a multipart upload needs a CSV file in field `{FILE_FIELD}`"
        raise invalid_field(FILE_FIELD, message)
    raise unsupported_media_type(f"{JSON}, {CSV} or {MULTIPART}")


class Upload(NamedTuple):
    """The validated records of a job, and the CSV columns that were not record columns."""

    records: list[dict]
    ignored_columns: list[str]


class RecordsUpload:
    """The body of POST /batch-jobs: a JSON list of records (or `{"records": [...]}`), a CSV
    body or a CSV file upload, validated whole so that a job never starts on bad input."""

    def content(self, settings: Settings) -> dict[str, Schema]:
        return {
            JSON: tuple(batch_job_models(settings.batch_job_max_records)),
            CSV: {"type": "string", "description": "CSV with a header of record columns."},
            MULTIPART: {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {FILE_FIELD: {"type": "string", "contentMediaType": CSV}},
            },
        }

    def parse(self, request: Request, settings: Settings) -> Upload:
        check_size(request, settings.batch_job_max_bytes)
        rows, ignored = _read_rows(request, settings.batch_job_max_bytes)
        limit = settings.batch_job_max_records
        if not rows:
            raise invalid_field("records", "no records")
        if len(rows) > limit:
            raise invalid_field("records", f"at most {limit} records per job, got {len(rows)}")
        try:
            records = [record.model_dump() for record in RECORDS.validate_python(rows)]
        except ValidationError as error:
            raise validation_failed(error, prefix=("records",)) from None
        return Upload(records, ignored)


def _unknown_job(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no batch job {job_id!r}")


def _job_id(value: str) -> str:
    if not JOB_ID_FORM.fullmatch(value):
        raise _unknown_job(value)
    return value


def _job_description(settings: Settings) -> str:
    return (
        f"Up to {settings.batch_job_max_records} records as a JSON list, a CSV body or a CSV "
        f"file upload (field `{FILE_FIELD}`). Columns that are not record columns are ignored."
    )


QUEUE_DOWN = ("The job queue (Redis) is unavailable", ErrorBody)
CREATE_BATCH_JOB = Endpoint(
    method="POST",
    rule="/batch-jobs",
    summary="Start a batch scoring job",
    tag="batch jobs",
    description=_job_description,
    body=RecordsUpload(),
    responses={
        202: ("Job queued", BatchJobAccepted),
        **BAD_BODY,
        415: ("Not JSON, CSV or a multipart upload", ErrorBody),
        503: QUEUE_DOWN,
    },
    usual=(202, 422),
)
BATCH_JOB_STATUS = Endpoint(
    method="GET",
    rule="/batch-jobs/<job_id>",
    summary="Status of a batch scoring job",
    tag="batch jobs",
    parameters=(
        PathParameter(
            "job_id", Annotated[str, StringConstraints(pattern=f"^{JOB_ID_PATTERN}$")], _job_id
        ),
    ),
    responses={
        200: ("Status, progress and counts", BatchJobStatus),
        404: ("Unknown job", ErrorBody),
        503: QUEUE_DOWN,
    },
    usual=(200, 404),
)


@CREATE_BATCH_JOB.route(blueprint)
def create_batch_job(services: Services, upload: Upload):
    try:
        job_id = jobs.enqueue_batch_job(services.batch_queue, upload.records)
    except RedisError as error:
        raise unavailable("the job queue (Redis)", type(error).__name__) from None
    url = BATCH_JOB_STATUS.path.format(job_id=job_id)
    body = {
        "id": job_id,
        "status": "queued",
        "records": len(upload.records),
        "ignored_columns": upload.ignored_columns,
        "status_url": url,
    }
    return json_response(body, 202, headers={"Location": url})


@BATCH_JOB_STATUS.route(blueprint)
def batch_job_status(job_id: str):
    services = current_services()
    try:
        status = jobs.batch_job_status(services.batch_queue, job_id)
    except RedisError as error:
        raise unavailable("the job queue (Redis)", type(error).__name__) from None
    if status is None:
        raise _unknown_job(job_id)
    return json_response(status)
