import { join } from 'node:path';
import { COLD_START_ENV, coldStartEnv, functionEntries } from '../../../bench/cold-start-env';

const FUNCTIONS = join(__dirname, '..', '..', '..', 'functions');
const entries = functionEntries(FUNCTIONS);
const handlers = entries.map((e) => e.name);

describe('the cold-start configuration of the bundle benchmarks', () => {
  it('names exactly the functions that have a handler', () => {
    expect(Object.keys(COLD_START_ENV).sort()).toEqual([...handlers].sort());
  });

  it('lists the per-engine database entries beside the generic one', () => {
    expect(entries.filter((e) => e.name.startsWith('database'))).toEqual([
      { name: 'database', entry: join(FUNCTIONS, 'database', 'handler.ts') },
      { name: 'database/mysql-handler', entry: join(FUNCTIONS, 'database', 'mysql-handler.ts') },
      { name: 'database/postgres-handler', entry: join(FUNCTIONS, 'database', 'postgres-handler.ts') },
    ]);
  });

  it('refuses a function it does not know, naming where to add it', () => {
    expect(() => coldStartEnv('new-function')).toThrow(
      'functions/new-function/handler.ts has no cold-start configuration: add the environment its handler validates at load to COLD_START_ENV in bench/cold-start-env.ts',
    );
  });

  it('names the file of a per-engine entry it does not know', () => {
    expect(() => coldStartEnv('database/oracle-handler')).toThrow(
      'functions/database/oracle-handler.ts has no cold-start configuration',
    );
  });

  it.each(entries)('is enough for the $name handler to load', ({ name, entry }) => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { AWS_REGION: 'us-east-1' }, coldStartEnv(name));
      jest.isolateModules(() => {
        const mod = require(entry) as { handler?: unknown };
        expect(typeof mod.handler).toBe('function');
      });
    } finally {
      process.env = saved;
    }
  });
});
