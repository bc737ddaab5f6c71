import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createJwtHandler } from '../../../functions/jwt';
import { RotationDriver } from '../../../local/driver';
import { type LocalAws, startMoto } from '../../../local/moto';
import { stagesAfterConfigurationTest } from '../../helpers/finished-labels';

let aws: LocalAws;
let secrets: SecretsManagerClient;
let s3: S3Client;

beforeAll(async () => {
  aws = await startMoto();
  secrets = new SecretsManagerClient(aws.clientConfig);
  s3 = new S3Client({ ...aws.clientConfig, forcePathStyle: true });
}, 60_000);

afterAll(async () => {
  await aws?.stop();
});

async function state(name: string, bucket: string): Promise<string> {
  const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
  const current = await secrets.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
  );
  const objects = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket })).catch(() => undefined);
  return JSON.stringify({
    stages: stagesAfterConfigurationTest(described.VersionIdsToStages),
    current: [current.VersionId, current.SecretString],
    objects: (objects.Contents ?? []).map((o) => [o.Key, o.ETag, o.LastModified?.toISOString()]),
    versions: (versions?.Versions ?? []).map((v) => v.VersionId),
  });
}

describe('PROTOCOL "RotateImmediately=false" with JWT signing keys, through moto\'s RotateSecret', () => {
  it.each(['never rotated (the bootstrap value)', 'rotated once'])(
    'testSecret alone passes on a key set %s, and changes nothing',
    async (history) => {
      // GIVEN
      const name = `jwt/immediately-false/${randomUUID().slice(0, 8)}`;
      const bucket = `jwks-${randomUUID().slice(0, 8)}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await secrets.send(new CreateSecretCommand({ Name: name, SecretString: '{}' }));
      const driver = new RotationDriver(aws.clientConfig);
      const handler = createJwtHandler({
        secretsManager: driver.client,
        s3,
        env: { JWKS_BUCKET: bucket, JWT_ALGORITHM: 'ES256' },
        now: () => Date.parse('2030-01-01T00:00:00.000Z'),
      });
      if (history === 'rotated once') expect((await driver.rotate(name, handler)).succeeded).toBe(true);
      const before = await state(name, bucket);
      // WHEN
      const result = await driver.testConfiguration(name, handler);
      // THEN
      expect(result).toMatchObject({ ok: true });
      expect(await state(name, bucket)).toBe(before);
      const after = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
      expect(Object.values(after.VersionIdsToStages ?? {}).flat()).not.toContain('AWSPENDING');
    },
  );
});
