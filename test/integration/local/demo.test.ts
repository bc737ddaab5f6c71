import { execFileSync } from 'node:child_process';
import { runDemo } from '../../../local/demo';

function serversRunning(): number {
  const out = execFileSync('ps', ['-eo', 'args']).toString();
  return out.split('\n').filter((line) => /moto\.server -H 127\.0\.0\.1|native\/bin\/postgres -D/.test(line))
    .length;
}

describe('the demo', () => {
  it('rotates with both strategies as promised, reports the events, fails no consumer request, and leaves no process behind', async () => {
    // GIVEN
    const before = serversRunning();
    const lines: string[] = [];
    // WHEN
    const rows = await runDemo({ rotations: 2, print: (line) => lines.push(line) });
    // THEN
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row).toMatchObject({ succeeded: true, newWorks: true, asPromised: true, failedRequests: 0 });
      expect(row.requests).toBeGreaterThan(0);
      expect(row.events.map((e) => e.split(' (')[0])).toEqual(['Secret Rotation Started', 'Secret Rotated']);
    }
    expect(rows.filter((r) => r.strategy === 'single-user').every((r) => !r.oldWorks)).toBe(true);
    expect(rows.filter((r) => r.strategy === 'alternating-users').every((r) => r.oldWorks)).toBe(true);
    expect(lines.join('\n')).toContain('strategy           #  user now');
    expect(serversRunning()).toBe(before);
  }, 180_000);
});
