import tls from 'node:tls';
import type { DatabaseEngine, EngineSettings } from '../../../functions/database/engines/engine';
import {
  makeTestCertificates,
  startMySqlFrontEnd,
  startPostgresFrontEnd,
  type TestCertificates,
  type TlsFrontEnd,
} from './tls-front-ends';

type Family = 'postgres' | 'mysql';

/** The engine of `family` from a fresh module registry: what a new execution environment loads. */
function coldStartEngine(family: Family, settings: EngineSettings): DatabaseEngine {
  let engine: DatabaseEngine | undefined;
  jest.isolateModules(() => {
    engine =
      family === 'postgres'
        ? new (require('../../../functions/database/engines/postgres').PostgresEngine)(settings)
        : new (require('../../../functions/database/engines/mysql').MySqlEngine)(settings);
  });
  if (!engine) throw new Error('engine not loaded');
  return engine;
}

const target = (port: number) => ({
  host: '127.0.0.1',
  port,
  username: 'app',
  password: 'not-the-password',
  database: 'appdb',
  ssl: true,
});

describe.each<[Family, (certs: TestCertificates) => Promise<TlsFrontEnd>]>([
  ['postgres', startPostgresFrontEnd],
  ['mysql', startMySqlFrontEnd],
])('TLS of the %s engine', (family, start) => {
  let trusted: TestCertificates;
  let otherHost: TestCertificates;
  let server: TlsFrontEnd;
  let wrongName: TlsFrontEnd;

  beforeAll(async () => {
    trusted = makeTestCertificates('IP:127.0.0.1,DNS:localhost');
    otherHost = makeTestCertificates('DNS:elsewhere.example');
    server = await start(trusted);
    wrongName = await start(otherHost);
  });

  afterAll(async () => {
    await server?.close();
    await wrongName?.close();
  });

  afterEach(() => jest.restoreAllMocks());

  it('builds one secure context per cold start, however many connections it opens', async () => {
    // prepare
    const engine = coldStartEngine(family, { connectTimeoutMs: 5000, caPem: trusted.caPem });
    const built = jest.spyOn(tls, 'createSecureContext');
    const before = server.handshakes;

    // act: the server refuses the login, which only happens after the client accepted its certificate
    for (let i = 0; i < 3; i++) {
      await expect(engine.connect(target(server.port))).rejects.toMatchObject({
        name: 'DatabaseAuthenticationError',
      });
    }

    // assess
    expect(server.handshakes - before).toBe(3);
    expect(built).toHaveBeenCalledTimes(1);
  });

  it('still trusts the CA bundle of DB_CA_BUNDLE_PATH with the shared context', async () => {
    const engine = coldStartEngine(family, { connectTimeoutMs: 5000, caPem: trusted.caPem });

    await expect(engine.connect(target(server.port))).rejects.toMatchObject({
      name: 'DatabaseAuthenticationError',
    });
  });

  it('still refuses a certificate no trusted CA signed', async () => {
    // prepare: no configured bundle, so only Node's roots and the RDS CAs are trusted
    const engine = coldStartEngine(family, { connectTimeoutMs: 5000 });

    // act
    const error = await engine.connect(target(server.port)).catch((e: unknown) => e);

    // assess
    expect(error).toMatchObject({ name: 'DatabaseTlsError', transient: false });
    expect((error as { code: string }).code).toMatch(/TLS|SSL|CERT|SIGNED|VERIFY/);
  });

  it('still refuses a certificate for another host name, signed by a trusted CA', async () => {
    const engine = coldStartEngine(family, { connectTimeoutMs: 5000, caPem: otherHost.caPem });

    const error = await engine.connect(target(wrongName.port)).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'DatabaseTlsError', transient: false });
    expect((error as { code: string }).code).toMatch(/ALTNAME|TLS|SSL/);
  });
});

describe('the shared secure context', () => {
  it('is one object per configured CA bundle, and another for another bundle', () => {
    jest.isolateModules(() => {
      const { trustedSecureContext, postgresTls } = require('../../../functions/database/engines/trust');
      expect(trustedSecureContext('pem-a')).toBe(trustedSecureContext('pem-a'));
      expect(postgresTls().secureContext).toBe(trustedSecureContext());
      expect(postgresTls().rejectUnauthorized).toBe(true);
    });
  });

  it('gives mysql2 the same options object on every connection, with host name verification on', () => {
    jest.isolateModules(() => {
      const { mysqlTls, verifiedTls } = require('../../../functions/database/engines/trust');
      expect(mysqlTls()).toBe(mysqlTls());
      expect(mysqlTls()).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
      expect(mysqlTls('extra').ca).toEqual(verifiedTls('extra').ca);
    });
  });
});
