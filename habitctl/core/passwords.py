"""Password verifiers: argon2id derived by the client, SHA-256 of it stored.

On a shared PostgreSQL the CLI's role cannot read stored verifiers and PostgreSQL has no
argon2, so the check is split (docs/security.md): the client derives the argon2id hash of
the password with the account's parameters and salt (the *proof*); the database keeps
`<parameters and salt>$sha256:<SHA-256 of the proof>` and compares. A stolen verifier cannot
be replayed, and each password guess still costs one argon2id. SQLite uses the same format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import Parameters

# argon2 (with cffi) is imported by the functions that hash: a `list` or `done` hashes nothing.
_PARAMETERS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)$")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def parameters_for(salt: bytes) -> str:
    """The argon2id parameter string (the library's recommended profile) for a salt."""
    p = _profile()
    return f"$argon2id$v=19$m={p.memory_cost},t={p.time_cost},p={p.parallelism}${_b64(salt)}"


def derive_proof(password: str, parameters: str) -> str:
    """The argon2id hash (encoded) of `password` under `parameters`."""
    from argon2 import Type
    from argon2.low_level import hash_secret

    match = _PARAMETERS.match(parameters)
    if match is None:
        raise ValueError("not argon2id parameters")
    memory, time_cost, parallelism, salt = match.groups()
    encoded = hash_secret(
        password.encode(),
        base64.b64decode(salt + "=" * (-len(salt) % 4)),
        time_cost=int(time_cost),
        memory_cost=int(memory),
        parallelism=int(parallelism),
        hash_len=_profile().hash_len,
        type=Type.ID,
    )
    return encoded.decode()


def _profile() -> Parameters:
    from argon2.profiles import RFC_9106_LOW_MEMORY

    return RFC_9106_LOW_MEMORY


def verifier_from_proof(proof: str) -> str:
    parameters = proof.rsplit("$", 1)[0]
    return f"{parameters}$sha256:{hashlib.sha256(proof.encode()).hexdigest()}"


def new_verifier(password: str) -> str:
    return verifier_from_proof(derive_proof(password, parameters_for(os.urandom(16))))


def parameters_of(verifier: str) -> str:
    return verifier.rsplit("$", 1)[0]


def decoy_parameters(username: str, key: str) -> str:
    """Stable parameters for an unknown name, so the answer does not reveal that it is unknown."""
    digest = hashlib.sha256((key + username).encode()).digest()
    return parameters_for(digest[:16])


def matches(verifier: str, proof: str) -> bool:
    return hmac.compare_digest(verifier, verifier_from_proof(proof))
