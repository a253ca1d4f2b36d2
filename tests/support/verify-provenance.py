#!/usr/bin/env python3
"""Checks a builder provenance file with implementations other than builder's:
securesystemslib's DSSE envelope and keys (pyca/cryptography underneath)
for the signature, hashlib for every subject's SHA-256.

usage: verify-provenance.py TARGET_DIR PUBLIC_KEY.pem
Prints one line per subject checked; exits 1 naming what does not match.
"""
import glob
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main(target_dir, key_file):
    with open(key_file, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # builder's key id: the SHA-256 of the key's SubjectPublicKeyInfo.
    key = SSlibKey.from_crypto(public, keyid=hashlib.sha256(spki).hexdigest())
    files = sorted(glob.glob(os.path.join(target_dir, "*.intoto.jsonl")))
    if not files:
        sys.exit(f"no *.intoto.jsonl in {target_dir}")
    failures = []
    for path in files:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
        for line in lines:
            envelope = Envelope.from_dict(json.loads(line))
            assert envelope.payload_type == "application/vnd.in-toto+json"
            envelope.verify([key], 1)  # raises VerificationError
            statement = json.loads(envelope.payload)
            assert statement["_type"] == "https://in-toto.io/Statement/v1"
            assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
            for subject in statement["subject"]:
                name = subject["name"]
                with open(os.path.join(target_dir, name), "rb") as f:
                    actual = hashlib.sha256(f.read()).hexdigest()
                if actual == subject["digest"]["sha256"]:
                    print(f"ok {name}")
                else:
                    failures.append(name)
    if failures:
        sys.exit("SHA-256 differs: " + ", ".join(failures))


if __name__ == "__main__":
    main(*sys.argv[1:])
