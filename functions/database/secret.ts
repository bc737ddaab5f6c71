import { InvalidSecretValueError } from '../rotation';

/** Engine families we rotate; `engine` values of RDS and the AWS templates map onto them. */
export type EngineFamily = 'postgres' | 'mysql';

const ENGINE_FAMILIES: Readonly<Record<string, EngineFamily>> = {
  postgres: 'postgres',
  postgresql: 'postgres',
  'aurora-postgresql': 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  aurora: 'mysql',
  'aurora-mysql': 'mysql',
};

/**
 * A database secret in the JSON shape RDS, CDK's `DatabaseSecret` and AWS's rotation templates use, validated.
 * Unknown fields are kept as they are when the secret is rewritten.
 */
export interface DatabaseSecret {
  readonly engine: string;
  readonly family: EngineFamily;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname?: string;
  readonly masterarn?: string;
  readonly dbInstanceIdentifier?: string;
  readonly dbClusterIdentifier?: string;
  /** TLS to the database; `false` only when the secret says so explicitly. */
  readonly ssl: boolean;
  /** The parsed JSON as stored, for rewriting with the same extra fields. */
  readonly raw: Readonly<Record<string, unknown>>;
}

const DEFAULT_PORTS: Readonly<Record<EngineFamily, number>> = { postgres: 5432, mysql: 3306 };

/**
 * Parses and validates a database secret.
 *
 * @param requireConnection whether host and engine are needed (not for the RDS API strategy's checks)
 * @throws InvalidSecretValueError naming the field, never quoting a value
 */
export function parseDatabaseSecret(secretArn: string, stage: string, secretString: string): DatabaseSecret {
  const fail = (field: string, problem: string): never => {
    throw new InvalidSecretValueError(secretArn, stage, field, problem);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(secretString);
  } catch {
    return fail('(value)', 'is not JSON: a database secret is a JSON object');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('(value)', 'is not a JSON object');
  }
  const value = raw as Record<string, unknown>;
  const text = (field: string, required: boolean): string | undefined => {
    const v = value[field];
    if (v === undefined || v === null) {
      if (required) fail(field, 'is missing');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') return fail(field, 'must be a non-empty string');
    return v;
  };
  if (value.host === undefined && value.engine === undefined && 'username' in value && 'password' in value) {
    fail(
      'host',
      'is missing: this looks like an RDS-managed master secret ({username, password}); RDS rotates those itself, ' +
        'or add engine, host and port to rotate it with this function',
    );
  }
  const engine = text('engine', true) as string;
  const family = ENGINE_FAMILIES[engine.toLowerCase()];
  if (!family) fail('engine', `must be one of ${Object.keys(ENGINE_FAMILIES).join(', ')}`);
  const host = text('host', true) as string;
  const username = text('username', true) as string;
  const password = value.password;
  if (typeof password !== 'string' || password === '') fail('password', 'must be a non-empty string');
  let port = DEFAULT_PORTS[family as EngineFamily];
  if (value.port !== undefined && value.port !== null) {
    const parsed =
      typeof value.port === 'string' && /^\d+$/.test(value.port) ? Number(value.port) : value.port;
    if (typeof parsed !== 'number' || !Number.isInteger(parsed) || parsed < 1 || parsed > 65535) {
      fail('port', 'must be an integer from 1 to 65535 (a number or a numeric string)');
    }
    port = parsed as number;
  }
  const ssl = parseSsl(value.ssl, fail);
  const dbname = text('dbname', false);
  const masterarn = text('masterarn', false);
  const dbInstanceIdentifier = text('dbInstanceIdentifier', false);
  const dbClusterIdentifier = text('dbClusterIdentifier', false);
  return {
    engine,
    family: family as EngineFamily,
    host,
    port,
    username,
    password: password as string,
    ssl,
    raw: value,
    ...(dbname ? { dbname } : {}),
    ...(masterarn ? { masterarn } : {}),
    ...(dbInstanceIdentifier ? { dbInstanceIdentifier } : {}),
    ...(dbClusterIdentifier ? { dbClusterIdentifier } : {}),
  };
}

function parseSsl(value: unknown, fail: (field: string, problem: string) => never): boolean {
  if (value === undefined || value === null) return true;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return fail('ssl', 'must be true or false');
}

/** The secret rewritten with a new username and password, every other field kept. */
export function withCredentials(secret: DatabaseSecret, username: string, password: string): string {
  return JSON.stringify({ ...secret.raw, username, password });
}
