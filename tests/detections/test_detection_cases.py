"""Each policy's saved search over its labelled cases: the right alerts, and nothing else."""
import itertools

import pytest

from detection_cases import (DETECTIONS, case_problems, contract_problems, event_ids, load_cases,
                             mismatches, rows_of_case, run_alone, runs_alone, values)

CASES = [(pid, name) for pid in sorted(DETECTIONS) for name, _, _ in load_cases(pid)]
# policies with cases replayed together (the others' cases all run alone)
BATCHED = [pid for pid in sorted(DETECTIONS)
           if any(not runs_alone(case) for _, case, _ in load_cases(pid))]


@pytest.mark.parametrize("policy_id", sorted(DETECTIONS))
def test_policy_has_enough_cases(policy_id):
    cases = load_cases(policy_id)
    positives = [n for n, case, _ in cases if case["expect"]]
    negatives = [n for n, case, _ in cases if not case["expect"]]
    assert len(positives) >= 4 and len(negatives) >= 4, (positives, negatives)
    for name, case, records in cases:
        assert not case_problems(case, records), (name, case_problems(case, records))
        assert case.get("about"), name
        assert name.startswith("p" if case["expect"] else "n"), \
            "%s: positive cases are named p*, negative ones n*" % name
        for want in case["expect"]:
            assert {"severity", "user"} <= set(want), \
                "%s: say at least which severity and which user the alert has" % name


def test_malformed_cases_are_named():
    step = {"search": "TrailWatch - Baseline - User activity", "now": "2024-03-05T09:59:00Z",
            "Records": []}
    good = {"about": "x", "expect": [], "now": "2024-03-05T11:00:00Z", "setup": [step],
            "lookups": {"trailwatch_allowlist.csv": "policy_id,user,target,aws_account_id,reason\n"}}
    assert case_problems(good, []) == [] and runs_alone(good)
    assert not runs_alone({"about": "x", "expect": []})
    bad = dict(good, expects=[], now="yesterday", lookups={"../allowlist.csv": "x"},
               setup=[dict(step, search="TrailWatch - Baseline - Nothing", when="now"),
                      {"search": [step["search"]], "now": "2024-03-05", "Records": {}}])
    problems = case_problems(bad, {})
    for text in ("unknown key 'expects'", "now 'yesterday' is not an ISO 8601 time",
                 "Records must be a list", "setup step 1: unknown key 'when'",
                 "setup step 1: search 'TrailWatch - Baseline - Nothing' is not a saved search",
                 "setup step 2: now '2024-03-05' is not an ISO 8601 time",
                 "setup step 2: Records must be a list", "lookups: '../allowlist.csv'"):
        assert any(text in p for p in problems), (text, problems)


@pytest.mark.parametrize("policy_id,case_name", CASES, ids=["%s/%s" % c for c in CASES])
def test_case(policy_id, case_name, policy_runs, folder_geoip, tmp_path):
    case, records = next((c, r) for n, c, r in load_cases(policy_id) if n == case_name)
    if runs_alone(case):
        mine = run_alone(policy_id, case, records, folder_geoip(policy_id), str(tmp_path))
    else:
        mine = rows_of_case(policy_runs(policy_id), records)
        ids = event_ids(records)
        for row in mine:
            stray = set(values(row.get("event_ids"))) - ids
            assert not stray, "an alert mixes this case's records with others: %s" % row
    expected = case["expect"]
    if not expected:
        assert mine == [], "negative case %s alerted: %s" % (case_name, mine)
        return
    assert len(mine) == len(expected), "expected %d alert(s), got %d: %s" % (
        len(expected), len(mine), mine)
    # every expected alert matches a distinct row
    best = None
    for perm in itertools.permutations(mine):
        problems = [p for want, row in zip(expected, perm, strict=True) for p in mismatches(want, row)]
        if not problems:
            best = None
            break
        if best is None or len(problems) < len(best):
            best = problems
    assert best is None, "%s: %s" % (case_name, "; ".join(best))
    for row in mine:
        assert row["policy_id"] == policy_id
        assert row["search_name"] == DETECTIONS[policy_id][1]
        assert not contract_problems(row), (contract_problems(row), row)


@pytest.mark.parametrize("policy_id", BATCHED)
def test_no_alert_without_a_case(policy_id, policy_runs):
    """Every row of the batched run belongs to a case (nothing unlabelled slips out)."""
    all_ids = set()
    for _, case, records in load_cases(policy_id):
        if not runs_alone(case):
            all_ids |= event_ids(records)
    for row in policy_runs(policy_id):
        ids = set(values(row.get("event_ids")))
        assert ids and ids <= all_ids, row
