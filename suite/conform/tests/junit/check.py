"""Reads a conform JUnit file with junitparser (a real JUnit consumer) and prints what it
saw as JSON: suites, their properties, and per-case results, so the Rust test can compare
them with conform's own counts. Exits non-zero if junitparser cannot read the file."""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

xml = JUnitXml.fromfile(sys.argv[1])
out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "suites": []}
for suite in xml:
    props = {p.name: p.value for p in suite.properties()}
    cases = []
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        cases.append(
            {
                "name": case.name,
                "classname": case.classname,
                "results": kinds,
                "system_out": case.system_out or "",
            }
        )
        out["tests"] += 1
        out["failures"] += any(isinstance(r, Failure) for r in case.result)
        out["errors"] += any(isinstance(r, Error) for r in case.result)
        out["skipped"] += any(isinstance(r, Skipped) for r in case.result)
    out["suites"].append(
        {
            "name": suite.name,
            "tests": suite.tests,
            "failures": suite.failures,
            "errors": suite.errors,
            "skipped": suite.skipped,
            "properties": props,
            "cases": cases,
        }
    )
print(json.dumps(out))
