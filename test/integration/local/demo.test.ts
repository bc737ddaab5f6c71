import { execFileSync } from 'node:child_process';
import { runDemo } from '../../../local/demo';

/** Pids of the moto and PostgreSQL processes descending from this process: the ones the demo started. */
function ownServers(): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='])
    .toString()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const descendants = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (!descendants.has(row.pid) && descendants.has(row.ppid)) {
        descendants.add(row.pid);
        grew = true;
      }
    }
  }
  return rows
    .filter((row) => row.pid !== process.pid && descendants.has(row.pid))
    .filter((row) => /moto\.server|postgres/.test(row.args))
    .map((row) => row.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the demo', () => {
  it('rotates with both strategies as promised, reports the events, fails no consumer request, and leaves no process behind', async () => {
    // GIVEN
    const lines: string[] = [];
    let started: number[] = [];
    // WHEN (the servers are listed once the demo says they run: other servers on the machine do not count)
    const rows = await runDemo({
      rotations: 2,
      print: (line) => {
        lines.push(line);
        if (line.startsWith('  moto at ')) started = ownServers();
      },
    });
    // THEN
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row).toMatchObject({ succeeded: true, newWorks: true, asPromised: true, failedRequests: 0 });
      expect(row.requests).toBeGreaterThan(0);
      const kinds = row.events.map((e) => e.split(' (')[0]);
      expect(kinds.filter((kind) => kind !== 'Secret Rotation Follow-up')).toEqual([
        'Secret Rotation Started',
        'Secret Rotated',
      ]);
      // The one follow-up a demo rotation makes: alternating users counts the sessions of the user it is about
      // to change (issue 19), from the second rotation on.
      const followUps = row.events.filter((e) => e.startsWith('Secret Rotation Follow-up'));
      expect(followUps.every((e) => e.startsWith('Secret Rotation Follow-up (previous-user-checked,'))).toBe(
        true,
      );
      if (row.strategy === 'single-user') expect(followUps).toEqual([]);
    }
    expect(rows.filter((r) => r.strategy === 'single-user').every((r) => !r.oldWorks)).toBe(true);
    expect(rows.filter((r) => r.strategy === 'alternating-users').every((r) => r.oldWorks)).toBe(true);
    expect(lines.join('\n')).toContain('strategy           #  user now');
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(started.filter(alive)).toEqual([]);
  }, 180_000);
});
