"""Knowledge bases with real clients: boto3 fills a bucket through Parley's S3-compatible API
(``endpoint_url=<server>/s3``, the API key as access key id; a 9 MB file goes up as a
multipart upload; a two-page PDF is read page by page), the Telnyx SDK embeds it (``client.ai.embeddings``), searches it and
deletes the embeddings. The server's background worker runs the task; the local
all-MiniLM-L6-v2 embeds (it is in the models directory once the Rust tests ran)."""

from __future__ import annotations

import io
import time
import uuid

import boto3
import pytest
import telnyx
from botocore.config import Config
from botocore.exceptions import ClientError

DOCUMENTS = {
    "returns.md": "# Returns\n\nYou can return most items within 30 days of delivery for a full refund.\n",
    "warranty.txt": "Every aluminium frame carries a lifetime warranty against manufacturing defects.\n",
    "hours.html": "<html><body><h1>Hours</h1><p>The Rotterdam store opens on Sundays from 12:00 to 17:00.</p>"
    "<script>var hidden = 'not text';</script></body></html>",
}

PDF_PAGES = [
    "Tyre pressure for the gravel bike: 2.8 bar at the front and 3.0 bar at the back.",
    "Clean the chain every 300 kilometres and wax it with Harbor chain wax.",
]


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF 1.4 of 12-point Helvetica text, one page per entry, with a cross-reference
    table computed from the byte offsets."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def s3_client(server, key: str):
    return boto3.client(
        "s3",
        endpoint_url=f"{server.url}/s3",
        aws_access_key_id=key,
        aws_secret_access_key="not-checked",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def wait_for_task(client: telnyx.Telnyx, task_id: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = client.ai.embeddings.retrieve(task_id).data.status
        if status not in ("queued", "processing"):
            return status
        assert time.monotonic() < deadline, f"task {task_id} still {status}"
        time.sleep(0.2)


def test_boto3_fills_a_bucket_the_sdk_embeds_and_searches(server, client: telnyx.Telnyx) -> None:
    s3 = s3_client(server, server.api_key)
    bucket = f"kb-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for name, text in DOCUMENTS.items():
        s3.put_object(Bucket=bucket, Key=name, Body=text.encode())
    s3.put_object(Bucket=bucket, Key="manual.pdf", Body=minimal_pdf(PDF_PAGES), ContentType="application/pdf")
    big = b"".join(f"line {i} of the big manual\n".encode() for i in range(400_000))
    assert len(big) > 9_000_000
    s3.upload_fileobj(io.BytesIO(big), bucket, "archive/manual.log")  # multipart above 8 MB
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="archive/")
    assert [o["Key"] for o in listed["Contents"]] == ["archive/manual.log"]
    assert listed["Contents"][0]["ETag"].strip('"').endswith("-2")
    downloaded = io.BytesIO()
    s3.download_fileobj(bucket, "archive/manual.log", downloaded)
    assert downloaded.getvalue() == big
    assert s3.get_object(Bucket=bucket, Key="returns.md")["Body"].read() == DOCUMENTS["returns.md"].encode()
    s3.delete_object(Bucket=bucket, Key="archive/manual.log")

    created = client.ai.embeddings.create(
        bucket_name=bucket, document_chunk_size=500, document_chunk_overlap_size=100
    )
    assert created.data.status == "queued"
    assert wait_for_task(client, created.data.task_id) == "success"
    assert bucket in client.ai.embeddings.buckets.list().data.buckets
    files = client.ai.embeddings.buckets.retrieve(bucket).data
    assert sorted(f.filename for f in files) == sorted([*DOCUMENTS, "manual.pdf"])
    assert all(f.status == "success" for f in files)

    found = client.ai.embeddings.similarity_search(
        bucket_name=bucket, query="How long is the frame warranty?", num_of_docs=2
    ).data
    assert len(found) == 2
    assert "lifetime warranty" in found[0].document_chunk
    assert found[0].metadata.filename == "warranty.txt"
    assert found[0].distance <= found[1].distance
    sunday = client.ai.embeddings.similarity_search(bucket_name=bucket, query="Is the shop open on Sunday?").data
    assert "Sundays" in sunday[0].document_chunk
    assert "hidden" not in sunday[0].document_chunk
    tyres = client.ai.embeddings.similarity_search(
        bucket_name=bucket, query="What tyre pressure for the gravel bike?"
    ).data
    assert tyres[0].metadata.filename == "manual.pdf"
    assert PDF_PAGES[0] in tyres[0].document_chunk

    client.ai.embeddings.buckets.delete(bucket)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.embeddings.similarity_search(bucket_name=bucket, query="warranty")
    # The objects stay until the bucket is emptied and deleted through S3.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    s3.delete_bucket(Bucket=bucket)


def test_unknown_access_keys_are_refused(server) -> None:
    s3 = s3_client(server, "KEY" + uuid.uuid4().hex)
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
