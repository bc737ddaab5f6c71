import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { COLD_START_ENV, coldStartEnv } from '../../../bench/cold-start-env';

const FUNCTIONS = join(__dirname, '..', '..', '..', 'functions');
const handlers = readdirSync(FUNCTIONS)
  .filter((name) => existsSync(join(FUNCTIONS, name, 'handler.ts')))
  .sort();

describe('the cold-start configuration of the bundle benchmarks', () => {
  it('names exactly the functions that have a handler', () => {
    expect(Object.keys(COLD_START_ENV).sort()).toEqual(handlers);
  });

  it('refuses a function it does not know, naming where to add it', () => {
    expect(() => coldStartEnv('new-function')).toThrow(
      'functions/new-function/handler.ts has no cold-start configuration: add the environment its handler validates at load to COLD_START_ENV in bench/cold-start-env.ts',
    );
  });

  it.each(handlers)('is enough for the %s handler to load', (name) => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { AWS_REGION: 'us-east-1' }, coldStartEnv(name));
      jest.isolateModules(() => {
        const mod = require(join(FUNCTIONS, name, 'handler.ts')) as { handler?: unknown };
        expect(typeof mod.handler).toBe('function');
      });
    } finally {
      process.env = saved;
    }
  });
});
