"""Frozen artifacts: JSON only, schema-versioned, content-hashed, free of secrets.

An artifact holds the architecture, every node's signatures (field names, JSON-schema types,
instructions), the LM configuration without credentials, and provenance. `load` verifies the hash and
the schema version and refuses a corrupted or incompatible file, with exact types and no unknown field.

The sha256 detects corruption and accidental edits, not tampering: whoever can rewrite the file can
rewrite the hash. For that, set a secret key in $ARCHON_COMPILE_SIGNING_KEY where artifacts are written
and where they are loaded: `freeze` then adds an HMAC-SHA256 `signature` of the hash, and `read` refuses
any artifact whose signature is missing or does not verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archon_compile.errors import ArchonError, SpecError
from archon_compile.lm.redact import public_url, secret_values
from archon_compile.plugins import plugins_of
from archon_compile.registry import PluginInfo, RegistryError, component_class, spec_class
from archon_compile.signatures.base import SignatureInfo
from archon_compile.spec import ArchitectureSpec, node_id, read_spec_file

FORMAT = "archon-compile/artifact"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = {1}
# Keys only an artifact has (a plain spec forbids extra keys): a file with any of them is read as one.
ARTIFACT_KEYS = {"format", "schema_version", "sha256"}
SIGNING_KEY_ENV = "ARCHON_COMPILE_SIGNING_KEY"
MIN_KEY_CHARS = 16
_PACKAGES = ("archon-compile", "pydantic", "litellm", "optuna", "llama-cpp-python")


class ArtifactError(ArchonError, ValueError):
    """An artifact that cannot be trusted or read; the message names the file and what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NodeInfo(_Strict):
    id: str
    type: str
    model: str | None
    signatures: list[SignatureInfo]


class Provenance(_Strict):
    created_at: str
    package_versions: dict[str, str]
    search: dict[str, Any] | None = Field(None, description="the compile's summary when compiled")


class Artifact(_Strict):
    format: Literal["archon-compile/artifact"] = "archon-compile/artifact"
    schema_version: int = SCHEMA_VERSION
    name: str
    architecture: ArchitectureSpec
    nodes: list[NodeInfo]
    lm_config: dict[str, list[str]]
    plugins: list[PluginInfo] = Field(
        default_factory=list, description="the plugin packages (and versions) whose components it uses"
    )
    provenance: Provenance
    sha256: str = ""
    signature: str | None = Field(None, description="HMAC-SHA256 of sha256 with $ARCHON_COMPILE_SIGNING_KEY")


def content_hash(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k not in ("sha256", "signature")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def freeze(spec: ArchitectureSpec, search: dict[str, Any] | None = None) -> Artifact:
    spec = _without_credentials(spec)
    nodes = [
        NodeInfo(
            id=node_id(li, ci),
            type=c.type,
            model=getattr(c, "model", None),
            signatures=[s.info() for s in component_class(c.type).node_signatures(c)],
        )
        for li, layer in enumerate(spec.layers)
        for ci, c in enumerate(layer)
    ]
    api_bases = sorted(
        {str(b) for layer in spec.layers for c in layer if (b := getattr(c, "api_base", None))}
    )
    art = Artifact(
        name=spec.name,
        architecture=spec,
        nodes=nodes,
        lm_config={"models": spec.models(), "api_bases": api_bases},
        plugins=plugins_of({c.type for layer in spec.layers for c in layer}),
        provenance=Provenance(
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            package_versions=_versions(),
            search=search,
        ),
    )
    digest = content_hash(art.model_dump(mode="json"))
    key = signing_key()
    return art.model_copy(update={"sha256": digest, "signature": sign(digest, key) if key else None})


def signing_key() -> bytes | None:
    """The key in $ARCHON_COMPILE_SIGNING_KEY, if set. Its value never appears in any message."""
    key = os.environ.get(SIGNING_KEY_ENV)
    if not key:
        return None
    if len(key) < MIN_KEY_CHARS:
        raise ArtifactError(
            f"${SIGNING_KEY_ENV} is shorter than {MIN_KEY_CHARS} characters; use a long random key"
        )
    return key.encode()


def sign(digest: str, key: bytes) -> str:
    return "hmac-sha256:" + hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def write(art: Artifact, path: str | Path) -> Path:
    text = art.model_dump_json(indent=2)
    assert_no_secrets(text, where=str(path))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(p)  # atomic: a crash never leaves half an artifact
    return p


def read(path: str | Path) -> Artifact | ArchitectureSpec:
    """An artifact (verified) or a plain spec, depending on what the file holds."""
    data = read_spec_file(path)
    if not (isinstance(data, dict) and ARTIFACT_KEYS & data.keys()):
        return ArchitectureSpec.from_data(data, source=str(path))
    if data.get("format") != FORMAT:
        raise ArtifactError(
            f"{path}: format {data.get('format')!r} is not {FORMAT!r}: the artifact was modified, or was "
            "written by another tool. Recompile it, or restore the original file"
        )
    version = data.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ArtifactError(
            f"{path}: schema_version {version!r} is not supported by this archon-compile "
            f"(supports {sorted(SUPPORTED_SCHEMA_VERSIONS)}); upgrade archon-compile or "
            "recompile the artifact"
        )
    if data.get("sha256") != content_hash(data):
        raise ArtifactError(
            f"{path}: content hash mismatch: the file was modified after it was compiled. "
            "Recompile it, or restore the original file"
        )
    _require_plugins(path, data.get("plugins"))
    _verify_signature(data, path)
    try:
        return Artifact.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(f"{path}: not a valid artifact: {_problems(exc)}") from None
    except SpecError as exc:
        raise ArtifactError(f"{path}: not a valid artifact: {exc}") from None


def _problems(exc: ValidationError, shown: int = 3) -> str:
    """The first problems on one line, each as the field's path and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()[:shown]
    )


def _require_plugins(path: str | Path, plugins: object) -> None:
    """Refuse, naming the package, an artifact whose plugin components are not installed here."""
    for raw in plugins if isinstance(plugins, list) else []:
        try:
            plugin = PluginInfo.model_validate(raw)
        except ValidationError:
            raise ArtifactError(f"{path}: not a valid artifact: malformed plugin entry {raw!r}") from None
        try:
            spec_class(plugin.type)
        except RegistryError:
            package = plugin.distribution or plugin.module
            pin = f"=={plugin.version}" if plugin.version else ""
            raise ArtifactError(
                f"{path}: uses component type {plugin.type!r} from the plugin {package!r} "
                f"{plugin.version or ''}, which is not installed: `pip install '{package}{pin}'` (or "
                "register the type with archon_compile.register_component before loading)"
            ) from None


def _verify_signature(data: dict[str, Any], path: str | Path) -> None:
    key = signing_key()
    if key is None:
        return
    given = data.get("signature")
    if not isinstance(given, str):
        raise ArtifactError(
            f"{path}: not signed, and ${SIGNING_KEY_ENV} is set, which requires signed artifacts. "
            f"Recompile (or re-save) it with ${SIGNING_KEY_ENV} set, or unset the variable"
        )
    if not hmac.compare_digest(given, sign(str(data.get("sha256")), key)):
        raise ArtifactError(
            f"{path}: the signature does not verify with the key in ${SIGNING_KEY_ENV}: the artifact was "
            "modified, or signed with another key. Recompile it with this key"
        )


def assert_no_secrets(text: str, where: str) -> None:
    for value in secret_values():
        if value in text:
            raise ArtifactError(
                f"{where}: refusing to write: the content contains the value of a credential "
                "environment variable"
            )


def _without_credentials(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Strip user:password@ and query strings from endpoints before they are frozen."""
    return spec.with_lms(
        lambda model, base: {"api_base": public_url(base)} if base else {}, "with credentials removed"
    )


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
