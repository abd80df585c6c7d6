"""Validates JUnit files against Jenkins' xunit JUnit schema with xmlschema (from the venv
.ci/run makes). argv: the schema, then the files. Prints each file's schema errors and exits 1
if any file is invalid; 0 when every file is valid."""
import sys

import xmlschema

schema = xmlschema.XMLSchema(sys.argv[1])
bad = 0
for path in sys.argv[2:]:
    errors = list(schema.iter_errors(path))
    for e in errors[:20]:
        print(f"{path}: {e.path}: {e.reason}")
    if errors:
        print(f"{path}: {len(errors)} schema errors")
        bad += 1
sys.exit(1 if bad else 0)
