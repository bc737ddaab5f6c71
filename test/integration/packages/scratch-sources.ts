/**
 * The sources of the scratch projects the package tests install the tarballs into: what a platform team's CDK
 * app and a service team's service would hold.
 */

/**
 * A CDK app of a platform team: an existing PostgreSQL `DatabaseInstance` and a MySQL `DatabaseCluster`, each
 * with its `DatabaseSecret`, plus a JWT signing key and an API key rotation. `argv[2]` is the output directory.
 */
export const CDK_APP = `import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  ApiKeyRotation,
  DatabaseRotationStrategy,
  DatabaseSecretRotation,
  JwtSigningKeyRotation,
} from '@rotation-without-storms/cdk';

const outdir = process.argv[2];
if (!outdir) throw new Error('usage: node app.js <outdir>');
const app = new App({ outdir });
const stack = new Stack(app, 'PlatformApp', { env: { account: '111122223333', region: 'eu-west-1' } });
const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });

const ordersSecret = new rds.DatabaseSecret(stack, 'OrdersSecret', { username: 'orders' });
const orders = new rds.DatabaseInstance(stack, 'Orders', {
  engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
  vpc,
  credentials: rds.Credentials.fromSecret(ordersSecret),
});
const billingSecret = new rds.DatabaseSecret(stack, 'BillingSecret', { username: 'billing' });
const billing = new rds.DatabaseCluster(stack, 'Billing', {
  engine: rds.DatabaseClusterEngine.auroraMysql({ version: rds.AuroraMysqlEngineVersion.VER_3_09_0 }),
  writer: rds.ClusterInstance.provisioned('Writer'),
  vpc,
  credentials: rds.Credentials.fromSecret(billingSecret),
});

// The common case in one call: VPC, subnets, the engine's port, the security group rule and the secret come
// from the database itself.
new DatabaseSecretRotation(stack, 'OrdersRotation', {
  database: orders,
  strategy: DatabaseRotationStrategy.SINGLE_USER,
});
new DatabaseSecretRotation(stack, 'BillingRotation', {
  database: billing,
  strategy: DatabaseRotationStrategy.SINGLE_USER,
});

new JwtSigningKeyRotation(stack, 'TokenKeys', {
  algorithm: 'ES256',
  maxTokenLifetime: Duration.minutes(15),
  verifierCacheLifetime: Duration.minutes(10),
});
const partnerKey = new secretsmanager.Secret(stack, 'PartnerKey');
new ApiKeyRotation(stack, 'PartnerKeyRotation', {
  secret: partnerKey,
  provider: { type: 'self-issued' },
  gracePeriod: Duration.hours(24),
});
app.synth();
`;

/** The CDK app's tsconfig, as \`cdk init app --language typescript\` writes it (NodeNext, strict). */
export const CDK_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    types: ['node'],
    strict: true,
    noImplicitReturns: true,
    noUnusedLocals: true,
    // No exactOptionalPropertyTypes: aws-cdk-lib's own classes do not satisfy its interfaces under it (Vpc is
    // no IVpc, Secret no ISecret). aws-cdk-lib's own declarations take minutes to check; ours are checked in the services' projects.
    skipLibCheck: true,
    outDir: 'dist',
  },
  files: ['app.ts'],
};

/**
 * A service of a service team, using only the pg adapter: one `SELECT current_user` per line `query` on stdin,
 * each answered by one JSON line on stdout. The pool opens a new connection for every query (`maxUses: 1`),
 * so each answer shows which credentials log in at that moment. The same text compiles as ESM and as CJS.
 */
export const SERVICE = `import { createInterface } from 'node:readline';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretCache } from '@rotation-without-storms/client';
import { RotatingPgPool } from '@rotation-without-storms/client/pg';

async function main(): Promise<void> {
  const secretId = process.env['SECRET_ID'];
  const ca = process.env['DB_CA'];
  if (!secretId || !ca) throw new Error('SECRET_ID and DB_CA are required');
  const cache = new SecretCache({ client: new SecretsManagerClient({}) });
  const pool = new RotatingPgPool({
    source: cache,
    secretId,
    pool: { max: 2, maxUses: 1, ssl: { ca, rejectUnauthorized: true } },
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'query') continue;
    try {
      const result = await pool.query<{ who: string }>('SELECT current_user AS who');
      console.log(JSON.stringify({ ok: true, who: result.rows[0]?.who }));
    } catch (error) {
      console.log(JSON.stringify({ ok: false, error: error instanceof Error ? error.name : 'unknown' }));
    }
  }
  await pool.end();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
`;

/** Strict consumer settings every service configuration shares. */
const STRICT = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  noPropertyAccessFromIndexSignature: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noImplicitReturns: true,
  // Our declarations (and those of pg and the AWS SDK they use) are checked too.
  skipLibCheck: false,
} as const;

/** One way a service compiles: its name, module format and compiler options. */
export interface ServiceConfiguration {
  readonly name: string;
  readonly format: 'module' | 'commonjs';
  readonly compilerOptions: Readonly<Record<string, unknown>>;
  /** Whether this configuration's output is what the test runs. */
  readonly emits: boolean;
}

/** ESM and CJS services, under every module resolution a service may use. */
export const SERVICE_CONFIGURATIONS: readonly ServiceConfiguration[] = [
  { name: 'esm-nodenext', format: 'module', emits: true, compilerOptions: { module: 'nodenext' } },
  { name: 'esm-node16', format: 'module', emits: false, compilerOptions: { module: 'node16' } },
  {
    name: 'esm-bundler',
    format: 'module',
    emits: false,
    compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
  },
  { name: 'cjs-nodenext', format: 'commonjs', emits: true, compilerOptions: { module: 'nodenext' } },
  { name: 'cjs-node16', format: 'commonjs', emits: false, compilerOptions: { module: 'node16' } },
  {
    name: 'cjs-node10',
    format: 'commonjs',
    emits: false,
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
  },
];

/** The tsconfig of one configuration. */
export function serviceTsconfig(configuration: ServiceConfiguration): Record<string, unknown> {
  return {
    compilerOptions: {
      ...STRICT,
      ...configuration.compilerOptions,
      ...(configuration.emits ? { outDir: 'dist' } : { noEmit: true }),
    },
    files: ['service.ts'],
  };
}
