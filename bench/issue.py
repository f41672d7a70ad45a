"""bench/issue: certificates per second at N concurrent clients (default 16) against
gunicorn + PostgreSQL, CT logging included; each request is what sigstore-python sends
(a CSR, the token as Bearer).

Baseline, measured in the same run: the bare ECDSA P-256 signing rate of this machine
(one core, cryptography), since an issuance needs at least four signatures (two
certificates, the precertificate, the SCT) plus the CT checkpoint's.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.issue
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.report import report
from bench.upload import _run_in_processes, post_worker
from sigportal.livetest import start_live_server


def ecdsa_baseline(seconds: float = 3.0) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    count, deadline = 0, time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < deadline:
        key.sign(b"x" * 200, ec.ECDSA(hashes.SHA256()))
        count += 1
    return count / (time.monotonic() - start)


def _csr_body() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    return json.dumps({"certificateSigningRequest": base64.b64encode(pem).decode()}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=16)
    parser.add_argument("--max-rate", type=float, default=400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    results: dict[str, Any] = {"ecdsa_p256_signs_per_second": round(ecdsa_baseline(), 1)}
    print(f"baseline: {results['ecdsa_p256_signs_per_second']} ECDSA P-256 signatures/s (1 core)")
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_live_server(
            Path(tmp),
            workers=args.web_workers,
            threads=args.web_threads,
            extra_env={"SIGPORTAL_DEV_IDP": "true"},
        )
        server = next(servers)
        try:
            token = server.manage("devtoken", "bench@example.test").stdout.strip().splitlines()[-1]
            host, port = server.url.removeprefix("http://").split(":")
            results["clients"] = {}
            for clients in args.clients:
                bodies = [_csr_body() for _ in range(int(args.max_rate * args.seconds))]
                nproc = min(clients, 4)
                auth = {"Authorization": f"Bearer {token}"}
                work = [
                    (host, int(port), "/api/v2/signingCert", auth, bodies[i::nproc])
                    for i in range(nproc)
                ]
                ours = _run_in_processes(
                    post_worker, work, clients, args.seconds, server.process.pid
                )
                ours["ratio_to_ecdsa_baseline"] = round(
                    ours["per_second"] / results["ecdsa_p256_signs_per_second"], 4
                )
                results["clients"][clients] = ours
                print(
                    f"{clients:>3} clients: {ours['per_second']:>7} certificates/s p50 "
                    f"{ours['p50_ms']} ms p95 {ours['p95_ms']} ms p99 {ours['p99_ms']} ms "
                    f"(errors {ours['errors']}) CPU ms/certificate {ours.get('cpu_ms_per_request')}"
                    " | ratio to bare ECDSA signing "
                    f"{ours['ratio_to_ecdsa_baseline']}",
                    flush=True,
                )
        finally:
            next(servers, None)
    report(results, args.json)


if __name__ == "__main__":
    main()
