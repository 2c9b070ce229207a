"""Parses a /metrics body (stdin) with the Prometheus client's reference text-format parser.

Prints one line per sample as "name{labels} value" and exits non-zero on any parse error,
so a test can both validate the format and read values.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on malformed input
        print(f"parse error: {e}", file=sys.stderr)
        return 1
    for family in families:
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            print(f"{sample.name}{{{labels}}} {sample.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
