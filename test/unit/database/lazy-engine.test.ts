import type { DatabaseEngine, DatabaseSession } from '../../../functions/database/engines/engine';
import { LazyEngine } from '../../../functions/database/engines/lazy';

const target = { host: 'db', port: 5432, username: 'app', password: 'pw', ssl: true };

function loader(): { load: jest.Mock<Promise<DatabaseEngine>, []>; session: DatabaseSession } {
  const session = { check: jest.fn() } as unknown as DatabaseSession;
  const engine = { connect: jest.fn().mockResolvedValue(session) } as unknown as DatabaseEngine;
  return { load: jest.fn().mockResolvedValue(engine), session };
}

describe('LazyEngine', () => {
  it('answers naming questions without loading the driver', () => {
    const { load } = loader();
    const postgres = new LazyEngine('postgres', load);
    const mysql = new LazyEngine('mysql', load);
    expect(postgres.maxUsernameLength).toBe(63);
    expect(postgres.fits('é'.repeat(31))).toBe(true);
    expect(postgres.fits('é'.repeat(32))).toBe(false); // 64 bytes
    expect(mysql.fits('é'.repeat(32))).toBe(true); // 32 characters
    expect(mysql.truncate('a'.repeat(40), 6)).toHaveLength(26);
    expect(Buffer.byteLength(postgres.truncate('é'.repeat(40), 6))).toBeLessThanOrEqual(57);
    expect(load).not.toHaveBeenCalled();
  });

  it('loads the driver once, on the first connection, even for concurrent connections', async () => {
    const { load, session } = loader();
    const engine = new LazyEngine('postgres', load);
    const sessions = await Promise.all([engine.connect(target), engine.connect(target)]);
    await engine.connect(target);
    expect(sessions).toEqual([session, session]);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('tries a failed load again on the next connection', async () => {
    const { load, session } = loader();
    load.mockRejectedValueOnce(new Error('cannot load'));
    const engine = new LazyEngine('mysql', load);
    await expect(engine.connect(target)).rejects.toThrow('cannot load');
    await expect(engine.connect(target)).resolves.toBe(session);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
