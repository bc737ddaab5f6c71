import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import type { RollbackJson } from '../../../cli/commands/rollback';
import type { RotateJson } from '../../../cli/commands/rotate';
import { type LocalAws, startMoto } from '../../../local/moto';
import { type CliRun, runCli } from './harness';

/** A JWT signing key rotated by the CLI in-process, against moto's Secrets Manager and S3. */
describe('secret-rotation with the JWT signing key function', () => {
  const SECRET = 'cli/orders-api/jwt';
  const BUCKET = 'cli-jwks';
  let aws: LocalAws;
  let s3: S3Client;
  let home: string;
  const outputs: string[] = [];

  const cli = async (args: readonly string[]): Promise<CliRun> => {
    const out = await runCli({ home }, [...args, '--endpoint-url', aws.endpoint], {
      JWKS_BUCKET: BUCKET,
      JWT_ALGORITHM: 'ES256',
    });
    outputs.push(out.stdout, out.stderr);
    return out;
  };

  beforeAll(async () => {
    aws = await startMoto();
    home = mkdtempSync(join(tmpdir(), 'cli-jwt-'));
    s3 = new S3Client({ ...aws.clientConfig, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const secrets = new SecretsManagerClient(aws.clientConfig);
    // the bootstrap value the function turns into a current and a next key
    await secrets.send(new CreateSecretCommand({ Name: SECRET, SecretString: '{}' }));
    await secrets.send(
      new TagResourceCommand({
        SecretId: SECRET,
        Tags: [
          { Key: 'secret-rotation:kind', Value: 'jwt' },
          { Key: 'secret-rotation:strategy', Value: 'jwks' },
        ],
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await aws?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('rotates the key set in-process and publishes a JWKS with the signing and the next key', async () => {
    const out = await cli(['rotate', SECRET, '--local-function', 'jwt', '--json']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as RotateJson;
    expect(result).toMatchObject({ mode: 'local', outcome: 'rotated', rotationFunction: 'local:jwt' });
    expect(result.steps.map((s) => `${s.step} ${s.status}`)).toEqual([
      'createSecret done',
      'setSecret done',
      'testSecret done',
      'finishSecret done',
    ]);
    const jwks = JSON.parse(
      (await (
        await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: '.well-known/jwks.json' }))
      ).Body?.transformToString()) ?? '{}',
    ) as { keys: Array<Record<string, string>> };
    expect(jwks.keys).toHaveLength(2);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
  }, 60_000);

  it('refuses a second rotation before the next key has been published for a verifier cache lifetime', async () => {
    const out = await cli(['rotate', SECRET, '--local-function', 'jwt']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('NextKeyNotReadyError');
  }, 60_000);

  it('refuses to roll back to the bootstrap value, which signs nothing', async () => {
    const out = await cli(['rollback', SECRET, '--yes', '--reason', 'INC-1', '--json']);
    expect(out.code).toBe(1);
    const result = JSON.parse(out.stdout) as RollbackJson;
    expect(result).toMatchObject({ kind: 'jwt', allowed: false, rolledBack: false });
  }, 60_000);

  it('never printed private key material', () => {
    const all = outputs.join('\n');
    expect(all).not.toMatch(/"d"\s*:/);
    expect(all).not.toContain('PRIVATE KEY');
  });
});
