#!/usr/bin/env python3
"""template.yaml as CloudFormation would deploy it, offline, for one parameter set.

Runs what CloudFormation runs before it creates anything, in its order:
  1. parameter values checked against each parameter's Type, AllowedValues,
     AllowedPattern and MinValue/MaxValue;
  2. the template's Rules (a failed assertion refuses the whole stack with its
     AssertDescription);
  3. the AWS::Serverless-2016-10-31 transform, by `samtranslator` (the library the
     CloudFormation SAM transform and `sam validate` run), with no AWS call;
then resolves Conditions, drops the resources and outputs whose Condition is false,
resolves Fn::If, AWS::NoValue, parameter and pseudo-parameter Refs, Fn::Sub, Fn::Join,
Fn::Select and Fn::Split wherever their inputs are known, and checks that every Ref,
Fn::GetAtt and ${Name} left names a resource that still exists.

Prints the resulting template as JSON. Exit status: 0 deployed; 2 refused (parameter or
Rule, each message on stderr as "refused: ..."); 3 the transformed template is broken
(a dangling reference, a SAM error).

    scripts/sam_transform.py [--stack-name coinlake] [--stack-id ARN] [--raw] [Name=Value ...]
    scripts/sam_transform.py --set NAME [Name=Value ...]   # a set of template-parameter-sets.json
    scripts/sam_transform.py --all-sets DIR                # every set, one DIR/NAME.json each
    scripts/sam_transform.py --batch < ARGV_LISTS.json      # many runs, one process

--batch reads a JSON list of argument lists (each as on the command line) and prints a JSON
list of {"status", "template", "errors"}: one interpreter start for a whole test.

--raw prints the transform's output before conditions are resolved.
"""

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

# samtranslator reads the Region of its boto3 session for partition lookups; no call is made.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# The translator records usage metrics for the hosted transform and warns when nobody
# publishes them; offline there is nobody to publish to.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parent.parent
# The parameter sets coinlake supports, shared by the template tests and scripts/test.sh.
SETS = ROOT / "scripts" / "template-parameter-sets.json"
NO_VALUE = object()


class Refused(Exception):
    pass


class Broken(Exception):
    pass


class OfflinePolicies:
    """The managed-policy name map SAM asks IAM for; the template names no managed policy
    by short name, so an empty map keeps the transform offline."""

    def load(self):
        return {}


def package(template):
    """What `sam package` / `sam deploy` do before the transform: local CodeUri paths become
    the S3 objects the built code is uploaded to (here a placeholder bucket)."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = "s3://sam-package-placeholder/code.zip"
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = f"s3://sam-package-placeholder/{name}.zip"


def parameter_values(template, overrides):
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise Refused(f"parameters not in the template: {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        text = str(overrides.get(name, spec.get("Default", "")))
        kind = spec.get("Type", "String")
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and text not in allowed:
            raise Refused(f"parameter {name}: {text!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, text):
            raise Refused(f"parameter {name}: {text!r} does not match {pattern}")
        if kind == "Number":
            try:
                number = float(text)
            except ValueError:
                raise Refused(f"parameter {name}: {text!r} is not a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise Refused(f"parameter {name}: {text} is below {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise Refused(f"parameter {name}: {text} is above {spec['MaxValue']}")
        # CloudFormation hands a CommaDelimitedList to Ref as a list: "" is [""].
        values[name] = text.split(",") if kind == "CommaDelimitedList" else text
    return values


class Resolver:
    def __init__(self, template, values, pseudo):
        self.values = {**values, **pseudo}
        self.condition_specs = template.get("Conditions", {})
        self.conditions = {}

    # -- conditions and rules ------------------------------------------------------------
    def condition(self, name):
        if name not in self.conditions:
            if name not in self.condition_specs:
                raise Broken(f"condition {name} is not defined")
            self.conditions[name] = self.boolean(self.condition_specs[name])
        return self.conditions[name]

    def boolean(self, node):
        value = self.resolve(node)
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise Broken(f"not a condition: {json.dumps(node)}")

    def rule_function(self, name, args):
        if name == "Fn::Equals":
            a, b = (self.resolve(x) for x in args)
            return a == b
        if name == "Fn::Not":
            return not self.boolean(args[0])
        if name == "Fn::And":
            return all(self.boolean(x) for x in args)
        if name == "Fn::Or":
            return any(self.boolean(x) for x in args)
        if name == "Fn::Contains":
            items, item = self.resolve(args[0]), self.resolve(args[1])
            return item in items
        if name == "Fn::EachMemberEquals":
            items, item = self.resolve(args[0]), self.resolve(args[1])
            return all(member == item for member in items)
        if name == "Fn::EachMemberIn":
            items, allowed = self.resolve(args[0]), self.resolve(args[1])
            return all(member in allowed for member in items)
        raise Broken(f"{name} is not evaluated by this tool")

    # -- values --------------------------------------------------------------------------
    def resolve(self, node):
        """The node with everything known replaced by its value; NO_VALUE for AWS::NoValue."""
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, args), = node.items()
            if key == "Ref":
                if args == "AWS::NoValue":
                    return NO_VALUE
                return self.values.get(args, node)
            if key == "Condition" and isinstance(args, str):
                return self.condition(args)
            if key == "Fn::If":
                branch = args[1] if self.condition(args[0]) else args[2]
                return self.resolve(branch)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains",
                       "Fn::EachMemberEquals", "Fn::EachMemberIn"):
                return self.rule_function(key, args)
            if key == "Fn::Sub":
                return self.sub(args)
            if key == "Fn::Join":
                delimiter, items = self.resolve(args[0]), self.resolve(args[1])
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    return delimiter.join(items)
                return {key: [delimiter, items]}
            if key == "Fn::Split":
                delimiter, text = self.resolve(args[0]), self.resolve(args[1])
                if isinstance(text, str):
                    return text.split(delimiter)
                return {key: [delimiter, text]}
            if key == "Fn::Select":
                index, items = self.resolve(args[0]), self.resolve(args[1])
                if isinstance(items, list) and not isinstance(index, dict):
                    if int(index) >= len(items):
                        raise Broken(f"Fn::Select index {index} past the end of {items}")
                    return items[int(index)]
                return {key: [index, items]}
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    def sub(self, args):
        if isinstance(args, str):
            text, variables = args, {}
        else:
            text, variables = args[0], {k: self.resolve(v) for k, v in args[1].items()}
        left = []

        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return match.group(0)
            value = variables.get(name, self.values.get(name))
            if isinstance(value, str):
                return value
            left.append(name)
            return match.group(0)

        text = re.sub(r"\$\{([^}]+)\}", replace, text)
        if left:
            return {"Fn::Sub": text}
        return re.sub(r"\$\{!([^}]+)\}", r"${\1}", text)


def references(node, out):
    """Every resource name a Ref, Fn::GetAtt or ${Name} in an Fn::Sub points at."""
    if isinstance(node, list):
        for item in node:
            references(item, out)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::GetAtt":
                out.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                local = set() if isinstance(value, str) else set(value[1])
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name.split(".")[0] not in local:
                        out.add(name.split(".")[0])
                references(value if isinstance(value, str) else value[1], out)
            else:
                references(value, out)


def deployed(transformed, values, pseudo):
    resolver = Resolver(transformed, values, pseudo)
    resources = {}
    for name, resource in transformed["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        resource = {k: v for k, v in resource.items() if k != "Condition"}
        resources[name] = resolver.resolve(resource)
    outputs = {}
    for name, output in transformed.get("Outputs", {}).items():
        if "Condition" in output and not resolver.condition(output["Condition"]):
            continue
        outputs[name] = resolver.resolve({k: v for k, v in output.items() if k != "Condition"})
    result = {"Resources": resources, "Outputs": outputs}

    names = set()
    references(result, names)
    for resource in resources.values():
        depends = resource.get("DependsOn", [])
        names.update([depends] if isinstance(depends, str) else depends)
    dangling = sorted(n for n in names if n not in resources and not n.startswith("AWS::"))
    if dangling:
        raise Broken(f"references to resources this parameter set does not create: {', '.join(dangling)}")
    return result


def main():
    parser = arguments()
    args = parser.parse_args()
    if args.batch:
        results = []
        for argv in json.load(sys.stdin):
            status, text, errors = one(parser, parser.parse_args(argv))
            results.append({"status": status, "template": json.loads(text) if text else None, "errors": errors})
        json.dump(results, sys.stdout)
        return 0
    status, text, errors = one(parser, args)
    sys.stdout.write(text)
    sys.stderr.write(errors)
    return status


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--stack-name", default="coinlake")
    parser.add_argument("--stack-id", help="default: a stack id for --stack-name")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account", default="123456789012")
    parser.add_argument("--raw", action="store_true", help="the transform's output, conditions unresolved")
    parser.add_argument("--set", help="start from this parameter set of template-parameter-sets.json")
    parser.add_argument("--all-sets", metavar="DIR", help="write every set's template to DIR/NAME.json")
    parser.add_argument("--batch", action="store_true", help="argument lists on stdin, results as JSON")
    parser.add_argument("parameters", nargs="*", metavar="Name=Value")
    return parser


def one(parser, args):
    """(exit status, the template as JSON text, messages) for one command line."""
    sets = json.loads(SETS.read_text())
    if args.all_sets:
        out = Path(args.all_sets)
        out.mkdir(parents=True, exist_ok=True)
        for name, values in sets.items():
            status, text, errors = run(args, values)
            if status:
                return status, "", f"set {name}:\n{errors}"
            (out / f"{name}.json").write_text(text)
        return 0, "", "".join(f"{out / name}.json\n" for name in sets)

    overrides = {}
    if args.set:
        if args.set not in sets:
            parser.error(f"no parameter set {args.set!r} in {SETS} (have {', '.join(sets)})")
        overrides.update(sets[args.set])
    for item in args.parameters:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"expected Name=Value, got {item!r}")
        overrides[name] = value
    return run(args, overrides)


def run(args, overrides):
    """(exit status, the template as JSON text, messages) for one parameter set."""
    stack_id = args.stack_id or (
        f"arn:aws:cloudformation:{args.region}:{args.account}:stack/{args.stack_name}/"
        "51af3dc0-da77-11e4-872e-1234567db123"
    )
    pseudo = {
        "AWS::StackName": args.stack_name,
        "AWS::StackId": stack_id,
        "AWS::Region": args.region,
        "AWS::AccountId": args.account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }

    template = yaml_parse(Path(args.template).read_text())
    package(template)
    try:
        values = parameter_values(template, overrides)
        resolver = Resolver(template, values, pseudo)
        failures = []
        for name, rule in template.get("Rules", {}).items():
            if "RuleCondition" in rule and not resolver.boolean(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not resolver.boolean(assertion["Assert"]):
                    failures.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
        if failures:
            raise Refused("\n".join(failures))

        # SAM resolves parameter Refs in a few properties itself, so it gets the values too;
        # CommaDelimitedList values go in as CloudFormation would pass them, joined.
        sam_values = {k: ",".join(v) if isinstance(v, list) else v for k, v in values.items()}
        sam_values.update(pseudo)
        # Imported here: refusals, the common case in tests, never need the translator.
        from samtranslator.translator.transform import transform

        try:
            transformed = transform(template, sam_values, OfflinePolicies())
        except Exception as error:  # samtranslator raises its own types with the cause in str()
            raise Broken(f"the SAM transform failed: {error}") from error
        output = transformed if args.raw else deployed(transformed, values, pseudo)
    except Refused as refusal:
        return 2, "", "".join(f"refused: {line}\n" for line in str(refusal).splitlines())
    except Broken as broken:
        return 3, "", f"broken: {broken}\n"
    return 0, json.dumps(output, indent=2, sort_keys=True) + "\n", ""


if __name__ == "__main__":
    sys.exit(main())
