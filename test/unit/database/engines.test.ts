import { escapeIdentifier } from 'pg';
import { MySqlEngine, regrant } from '../../../functions/database/engines/mysql';
import { PostgresEngine, scramVerifier } from '../../../functions/database/engines/postgres';
import { DatabaseStatementError } from '../../../functions/database/errors';

describe('PostgreSQL engine', () => {
  const engine = new PostgresEngine({ connectTimeoutMs: 1000 });

  it('builds the SCRAM-SHA-256 verifier PostgreSQL stores (RFC 7677 test vector)', () => {
    // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    const verifier = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    expect(verifier).toBe(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });

  it('never puts the plaintext in the verifier', () => {
    expect(scramVerifier("it's a secret")).not.toContain("it's a secret");
  });

  it('counts the identifier limit in bytes', () => {
    expect(engine.fits('a'.repeat(63))).toBe(true);
    expect(engine.fits('a'.repeat(64))).toBe(false);
    expect(engine.fits('é'.repeat(32))).toBe(false);
    expect(Buffer.byteLength(engine.truncate('é'.repeat(40), 6))).toBeLessThanOrEqual(57);
  });

  it('quotes identifiers with pg escapeIdentifier, doubling quotes', () => {
    expect(escapeIdentifier('App.User"; DROP')).toBe('"App.User""; DROP"');
  });

  it('maps a refused connection to a transient unavailability', async () => {
    await expect(
      engine.connect({ host: '127.0.0.1', port: 1, username: 'u', password: 'p-secret-x', ssl: false }),
    ).rejects.toMatchObject({ name: 'DatabaseUnavailableError', transient: true, code: 'ECONNREFUSED' });
  });
});

describe('MySQL/MariaDB engine', () => {
  const engine = new MySqlEngine({ connectTimeoutMs: 1000 });

  it('counts the user name limit in characters (32, which MySQL and MariaDB both accept)', () => {
    expect(engine.fits('a'.repeat(32))).toBe(true);
    expect(engine.fits('a'.repeat(33))).toBe(false);
    expect(engine.truncate('a'.repeat(40), 6)).toHaveLength(26);
  });

  it('rewrites a grant for the alternate user, the grantee escaped by the driver', () => {
    expect(regrant('GRANT SELECT, INSERT ON `appdb`.`items` TO `app`@`%`', 'app', '%', 'app_clone')).toBe(
      "GRANT SELECT, INSERT ON `appdb`.`items` TO 'app_clone'@'%'",
    );
  });

  it('treats a dot in a user name as part of the name', () => {
    expect(regrant('GRANT SELECT ON `db`.* TO `App.User`@`%`', 'App.User', '%', 'App.User_clone')).toBe(
      "GRANT SELECT ON `db`.* TO 'App.User_clone'@'%'",
    );
  });

  it('keeps WITH GRANT OPTION and drops account clauses', () => {
    expect(regrant('GRANT ALL PRIVILEGES ON `db`.* TO `app`@`%` WITH GRANT OPTION', 'app', '%', 'b')).toBe(
      "GRANT ALL PRIVILEGES ON `db`.* TO 'b'@'%' WITH GRANT OPTION",
    );
  });

  it('skips the USAGE line so no password hash is ever copied', () => {
    expect(
      regrant(
        "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1'",
        'app',
        '%',
        'b',
      ),
    ).toBeUndefined();
  });

  it('understands the older quoted grantee form', () => {
    expect(regrant("GRANT SELECT ON `db`.* TO 'app'@'10.0.%'", 'app', '10.0.%', 'b')).toBe(
      "GRANT SELECT ON `db`.* TO 'b'@'10.0.%'",
    );
  });

  it('escapes a hostile alternate user name', () => {
    expect(regrant('GRANT SELECT ON `db`.* TO `app`@`%`', 'app', '%', "x'@'%'; DROP TABLE t; --")).toBe(
      "GRANT SELECT ON `db`.* TO 'x\\'@\\'%\\'; DROP TABLE t; --'@'%'",
    );
  });

  it('refuses a grant it cannot attribute rather than guessing', () => {
    expect(() => regrant('GRANT SELECT ON `db`.* TO `other`@`%`', 'app', '%', 'b')).toThrow(
      DatabaseStatementError,
    );
  });

  it('maps a refused connection to a transient unavailability', async () => {
    await expect(
      engine.connect({ host: '127.0.0.1', port: 1, username: 'u', password: 'p-secret-x', ssl: false }),
    ).rejects.toMatchObject({ name: 'DatabaseUnavailableError', transient: true });
  });
});
