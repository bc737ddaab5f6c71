import { readdirSync, readFileSync } from 'node:fs';
import { runDemo } from '../../../local/demo';

/**
 * Pids of the moto and PostgreSQL processes descending from this process (the ones the demo started), found
 * by walking this process's own tree in /proc: nothing else on the machine is looked at.
 */
function ownServers(): number[] {
  const found: number[] = [];
  const queue = [process.pid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const child of childrenOf(pid)) {
      queue.push(child);
      if (/moto\.server|postgres/.test(commandLineOf(child))) found.push(child);
    }
  }
  return found;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return []; // the process ended meanwhile
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
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
