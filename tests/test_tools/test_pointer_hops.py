"""tools/analysis/pointer_hops.py: a user's run trains the lookup layouts and reports when each learned."""
import json
import os
import subprocess
import sys

from groma_mm.testing.paths import REPO_ROOT

TOOL = os.path.join(REPO_ROOT, 'tools', 'analysis', 'pointer_hops.py')


def test_one_lookup_layout_is_learned_and_reported(tmp_path):
    out = tmp_path / 'hops.json'
    cmd = [sys.executable, TOOL, '--layouts', 'identity-in-slot-query-last', '--steps', '1500', '--eval-every', '100',
           '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = {r['layout']: r for r in json.loads(out.read_text())['results']}
    one_hop = results['identity-in-slot-query-last']
    # It starts near chance (1/5: the task needs learning) and learns one lookup within the budget (about
    # 900 steps with seed 0), then stops.
    assert one_hop['curve'][0][1] < 0.5
    assert one_hop['steps_to_target'] is not None and one_hop['curve'][-1][1] >= 0.9
    assert one_hop['steps_to_target'] == one_hop['curve'][-1][0] < 1500
    assert 'steps to 0.9' in proc.stdout
