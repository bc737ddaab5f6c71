"""EventBridge's pattern language as moto implements it: reads {"cases": [{"pattern": ..., "event": ...}]}
on stdin and prints one JSON boolean per case. Used by test/infra/event-patterns.test.ts as an oracle that
is not our code."""
import json
import sys

from moto.events.models import EventPattern

cases = json.load(sys.stdin)["cases"]
print(json.dumps([EventPattern.load(json.dumps(c["pattern"])).matches_event(c["event"]) for c in cases]))
