import { parseDatabaseSecret, withCredentials } from '../../../functions/database/secret';
import { InvalidSecretValueError } from '../../../functions/rotation';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf';
const valid = {
  engine: 'postgres',
  host: 'db.example',
  port: 5432,
  username: 'app',
  password: 'pw-secret-1',
  dbname: 'app',
};
const parse = (value: unknown) =>
  parseDatabaseSecret(ARN, 'AWSCURRENT', typeof value === 'string' ? value : JSON.stringify(value));

describe('database secret', () => {
  it('accepts the shape of RDS and the AWS templates, port as a number or a numeric string', () => {
    expect(parse(valid)).toMatchObject({ family: 'postgres', port: 5432, ssl: true, dbname: 'app' });
    expect(parse({ ...valid, port: '6543' }).port).toBe(6543);
    expect(parse({ ...valid, engine: 'mariadb', port: undefined }).port).toBe(3306);
    expect(parse({ ...valid, engine: 'aurora-postgresql' }).family).toBe('postgres');
  });

  it('treats a null dbname as absent', () => {
    expect(parse({ ...valid, dbname: null }).dbname).toBeUndefined();
  });

  it('turns TLS off only when ssl is explicitly false', () => {
    expect(parse({ ...valid, ssl: false }).ssl).toBe(false);
    expect(parse({ ...valid, ssl: 'false' }).ssl).toBe(false);
    expect(parse({ ...valid, ssl: true }).ssl).toBe(true);
  });

  it.each([
    ['not json at all', "field '(value)' is not JSON"],
    [[1, 2], "field '(value)' is not a JSON object"],
    [{ ...valid, host: undefined }, "field 'host' is missing"],
    [{ ...valid, engine: 'oracle' }, "field 'engine' must be one of"],
    [{ ...valid, port: 'abc' }, "field 'port' must be an integer"],
    [{ ...valid, port: 70000 }, "field 'port' must be an integer"],
    [{ ...valid, username: '' }, "field 'username' must be a non-empty string"],
    [{ ...valid, password: 5 }, "field 'password' must be a non-empty string"],
    [{ ...valid, ssl: 'maybe' }, "field 'ssl' must be true or false"],
    [{ username: 'admin', password: 'pw-secret-1' }, 'RDS-managed master secret'],
  ])('rejects %j with an error naming the field', (value, message) => {
    expect(() => parse(value)).toThrow(InvalidSecretValueError);
    expect(() => parse(value)).toThrow(message);
  });

  it('never quotes the password in an error', () => {
    expect(() => parse({ ...valid, engine: 'pw-secret-1' })).not.toThrow(/pw-secret-1/);
  });

  it('keeps unknown fields when it rewrites the credentials', () => {
    const secret = parse({ ...valid, proxy: 'proxy.example' });
    expect(JSON.parse(withCredentials(secret, 'app_clone', 'new-pw'))).toEqual({
      ...valid,
      proxy: 'proxy.example',
      username: 'app_clone',
      password: 'new-pw',
    });
  });
});
