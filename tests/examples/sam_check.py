#!/usr/bin/env python3
"""The SAM template through the tools that deploy it (TAP; tools/check-examples
runs it and numbers its checks after the others):

  - every local path it names (CodeUri, ContentUri, DockerContext) exists once
    the steps of its header have run: in the repository, or among what those
    steps put in dist/;
  - `sam package`'s rewriting (local paths to S3 URIs, the image to an ECR
    URI; what it cannot rewrite, such as a !Ref, is left as is, as the SAM
    CLI leaves it), then the SAM transform itself (aws-sam-translator), for
    both architectures;
  - cfn-lint, errors and warnings.

aws-sam-translator and cfn-lint are Python packages on PyPI only (Debian and
npm have neither): where this Python lacks them the checks fail, saying so.

Usage: sam_check.py TOP TEMPLATE
"""
import copy
import os
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

# What the template's header steps put in dist/ (besides the release's).
DIST = {"lambshm-0.1.0-lambda-layer-x86_64.zip", "lambshm-0.1.0-lambda-layer-aarch64.zip",
        "function", "Dockerfile", "lambda_handler.py"}
tap = Tap(keep=30)
check = tap.check


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !If, ...) as their long forms."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


Loader.add_multi_constructor("!", _intrinsic)


def local_paths(template):
    """(resource, property, path) of every local path `sam package` uploads."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        for prop in ("CodeUri", "ContentUri"):
            if prop in props:
                yield name, prop, props[prop]
        if "DockerContext" in res.get("Metadata", {}):
            yield name, "DockerContext", res["Metadata"]["DockerContext"]


def packaged(template):
    """The template as `sam package` leaves it for CloudFormation."""
    t = copy.deepcopy(template)
    for name, res in t["Resources"].items():
        props = res.setdefault("Properties", {})
        for prop in ("CodeUri", "ContentUri"):
            if isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
                props[prop] = f"s3://bucket/{name}.zip"
        if props.get("PackageType") == "Image":
            props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest"
    return t


def main():
    top, path = sys.argv[1:3]
    here = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        template = yaml.load(f, Loader=Loader)
    missing = []
    for name, prop, p in local_paths(template):
        if not isinstance(p, str):
            missing.append(f"{name}.{prop}: {p} (not a path: `sam package` uploads only a literal one)")
            continue
        full = os.path.normpath(os.path.join(here, p))
        rel = os.path.relpath(full, top)
        ok = rel == "dist" or (rel.split(os.sep)[1] in DIST if rel.startswith("dist" + os.sep)
                               else os.path.exists(full))
        if not ok:
            missing.append(f"{name}.{prop}: {p}")
    check(not missing, "SAM: every local path exists after the documented steps", "\n".join(missing))

    try:
        from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
        from samtranslator.translator.transform import transform
    except ImportError as e:
        check(False, "SAM transform: aws-sam-translator is importable",
              f"{e}\naws-sam-translator is on PyPI only (no Debian or npm package): "
              f"pip install aws-sam-translator cfn-lint for {sys.executable}")
    else:
        class NoPolicies(ManagedPolicyLoader):
            def __init__(self):
                pass

            def load(self):
                return {}
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # ARNs name a partition
        for arch in ("x86_64", "arm64"):
            try:
                out = transform(packaged(template), {"Architecture": arch}, NoPolicies())
                kinds = sorted({r["Type"] for r in out["Resources"].values()})
                ok = "AWS::Lambda::LayerVersion" in kinds and "AWS::Lambda::Function" in kinds
                detail = kinds
            except Exception as e:  # the translator's own report of what is wrong
                ok, detail = False, f"{type(e).__name__}: {e}"
            check(ok, f"SAM transform (aws-sam-translator) after sam package's rewriting ({arch})", detail)

    r = subprocess.run([sys.executable, "-c", "import sys; from cfnlint.runner import main; "
                        "sys.argv[0] = 'cfn-lint'; sys.exit(main())", "--format", "parseable", path],
                       capture_output=True, text=True)
    if "No module named 'cfnlint'" in r.stderr:
        check(False, "cfn-lint: importable", r.stderr + "\ncfn-lint is on PyPI only (no Debian or npm "
              f"package): pip install cfn-lint for {sys.executable}")
    else:
        check(r.returncode == 0, "cfn-lint: no error and no warning", r.stdout + r.stderr)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
