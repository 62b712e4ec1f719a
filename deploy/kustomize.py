"""A small kustomize for the tests and for machines without it: renders deploy/k8s the way
`kubectl kustomize` does for the features used there (resources, namespace, images,
strategic-merge patches by kind and name, `$patch: delete`), and nothing more.

python -m deploy.kustomize deploy/k8s/overlays/external
"""

import sys
from copy import deepcopy
from pathlib import Path

import yaml

# kinds that live outside any namespace (among those this project uses)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}


def build(directory: Path) -> list[dict]:
    directory = Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: this renderer does not know {sorted(unknown)}")
    documents: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            documents += build(path)
        else:
            documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in kustomization.get("patches", []):
        for change in yaml.safe_load_all((directory / patch["path"]).read_text()):
            if change:
                documents = apply_patch(documents, change)
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in documents:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images", []):
        for doc in documents:
            retag(doc, image)
    return documents


def apply_patch(documents: list[dict], change: dict) -> list[dict]:
    key = (change["kind"], change["metadata"]["name"])
    targets = [d for d in documents if (d["kind"], d["metadata"]["name"]) == key]
    if len(targets) != 1:
        raise ValueError(f"patch target {key} matches {len(targets)} resources")
    if change.get("$patch") == "delete":
        return [d for d in documents if d is not targets[0]]
    merge(targets[0], change)
    return documents


def merge(base: dict, change: dict) -> None:
    """Strategic merge as far as this project needs it: maps merge, lists of named items
    (containers, env, ports, volumes) merge by name, other lists are replaced."""
    for key, value in change.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _named(value + current):
            by_name = {item["name"]: item for item in current}
            added = []
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    added.append(deepcopy(item))
            current[:0] = added  # kustomize puts a patch's new items first, in its order
        else:
            base[key] = deepcopy(value)


def _named(items: list) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def retag(node, image: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                name, _, tag = value.split("@")[0].partition(":")
                if name == image["name"]:
                    new_tag = image.get("newTag", tag)
                    node[key] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
            else:
                retag(value, image)
    elif isinstance(node, list):
        for item in node:
            retag(item, image)


def main(argv: list[str]) -> int:
    print("---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in build(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
