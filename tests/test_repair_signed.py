"""Repair of a signed wheel: RECORD.jws / RECORD.p7s sign the RECORD that repair rewrites,
so they must go, and the user must be told. The signatures are real: a CMS (PKCS#7)
detached signature made by openssl, and a JWS (RFC 7515, HS256) over RECORD's hash, the
form the `wheel` tool once wrote; each verifies against the original RECORD."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Dict

import pytest
from support import require, run
from support.cbuild import libpython_module_wheel

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
INFO = "probe-1.0.dist-info"
SIGNATURES = (f"{INFO}/RECORD.jws", f"{INFO}/RECORD.p7s")
JWS_KEY = b"nolibpython-test-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(header: str, payload: str) -> str:
    return _b64(hmac.new(JWS_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())


def jws_of(record: bytes) -> bytes:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"hash": "sha256=" + _b64(hashlib.sha256(record).digest())}).encode())
    return f"{header}.{payload}.{_mac(header, payload)}".encode()


def jws_verifies(jws: bytes, record: bytes) -> bool:
    header, payload, mac = jws.decode().split(".")
    good_mac = hmac.compare_digest(_mac(header, payload), mac)
    claimed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["hash"]
    return good_mac and claimed == "sha256=" + _b64(hashlib.sha256(record).digest())


def p7s_verifies(p7s: bytes, record: bytes, work: Path) -> bool:
    (work / "sig.p7s").write_bytes(p7s)
    (work / "content").write_bytes(record)
    proc = run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", work / "sig.p7s",
                "-content", work / "content", "-noverify", "-out", work / "verified"])
    return proc.returncode == 0


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A wheel whose module links libpython, signed both ways (signatures not in RECORD, as PEP 427 says)."""
    require(shutil.which("openssl"), "openssl makes the CMS signature", apt=["openssl"])
    d = tmp_path_factory.mktemp("signed")
    wheel = libpython_module_wheel(d)
    with zipfile.ZipFile(wheel) as zf:
        record = zf.read(f"{INFO}/RECORD")
    (d / "RECORD").write_bytes(record)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=nolibpython test",
         "-days", "2", "-keyout", d / "key.pem", "-out", d / "cert.pem"], check=True)
    run(["openssl", "cms", "-sign", "-binary", "-in", d / "RECORD", "-signer", d / "cert.pem",
         "-inkey", d / "key.pem", "-outform", "DER", "-out", d / "RECORD.p7s"], check=True)
    with zipfile.ZipFile(wheel, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(SIGNATURES[0], jws_of(record))
        zf.writestr(SIGNATURES[1], (d / "RECORD.p7s").read_bytes())
    return {"dir": d, "wheel": wheel}


def test_signed_record_is_dropped_and_the_drop_reported(signed: Dict[str, Path], tmp_path: Path) -> None:
    wheel = signed["wheel"]
    with zipfile.ZipFile(wheel) as zf:
        record = zf.read(f"{INFO}/RECORD")
        sigs = {name: zf.read(name) for name in SIGNATURES}
    # negative controls: both signatures are real (they verify against this RECORD, not another)
    assert jws_verifies(sigs[SIGNATURES[0]], record) and not jws_verifies(sigs[SIGNATURES[0]], record + b"x")
    assert p7s_verifies(sigs[SIGNATURES[1]], record, tmp_path)
    assert not p7s_verifies(sigs[SIGNATURES[1]], record + b"x", tmp_path)
    assert run([*CLI, "check", str(wheel)]).returncode == 1  # a signed wheel is checked like any other
    out = tmp_path / "out"
    proc = run([*CLI, "repair", "-w", str(out), str(wheel)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in SIGNATURES:
        assert f"{wheel}: {name}: dropped (the signature no longer matches the new RECORD)" in proc.stdout, proc.stdout
    repaired = out / wheel.name
    with zipfile.ZipFile(repaired) as zf:
        names = zf.namelist()
        new_record = zf.read(f"{INFO}/RECORD")
    assert not set(SIGNATURES) & set(names), names
    assert new_record != record and not any(s.encode() in new_record for s in SIGNATURES)
    # why they had to go: neither signature verifies against the RECORD that ships now
    assert not jws_verifies(sigs[SIGNATURES[0]], new_record)
    assert not p7s_verifies(sigs[SIGNATURES[1]], new_record, tmp_path)
    assert run([*CLI, "check", str(repaired)]).returncode == 0
    assert run([sys.executable, "-m", "wheel", "unpack", "-d", tmp_path / "u", repaired]).returncode == 0


def test_signatures_kept_when_record_is_unchanged(signed: Dict[str, Path], tmp_path: Path) -> None:
    """Control: a copy that changes nothing (--force-copy of a wheel with nothing to repair, here
    the --allow'ed module with --keep-rpath) keeps its still-valid signatures and drops nothing."""
    wheel = signed["wheel"]
    proc = run([*CLI, "repair", "--force-copy", "--keep-rpath", "--allow", "probe/*", "-w", str(tmp_path), str(wheel)])
    assert proc.returncode == 0 and "dropped" not in proc.stdout, proc.stdout + proc.stderr
    with zipfile.ZipFile(tmp_path / wheel.name) as zf:
        assert set(SIGNATURES) <= set(zf.namelist())
        assert p7s_verifies(zf.read(SIGNATURES[1]), zf.read(f"{INFO}/RECORD"), tmp_path)
