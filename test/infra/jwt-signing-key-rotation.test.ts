import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RotationAlarms, RotationEvents } from '../../infra/constructs';
import {
  JwtSigningKeyRotation,
  type JwtSigningKeyRotationProps,
} from '../../infra/constructs/jwt-signing-key-rotation';

function fixture() {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  return { app, stack };
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

function statementsOf(template: Template, roleOf: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(roleOf),
    )
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
          .Statement,
    );
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

describe('JwtSigningKeyRotation with its defaults', () => {
  // GIVEN one stack with the construct and nothing else, synthesized once
  const { stack } = fixture();
  const rotation = new JwtSigningKeyRotation(stack, 'Jwt');
  const template = Template.fromStack(stack);
  const secretId = logicalId(stack, rotation.secret as secretsmanager.Secret);
  const bucketId = logicalId(stack, rotation.bucket);
  const roleId = stack.getLogicalId(rotation.rotationFunction.role!.node.defaultChild as never);

  it('creates a secret holding the bootstrap value {}', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: '{}' });
  });

  it('deploys the JWT function with its kind, strategy and timing settings', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 60,
      MemorySize: 256,
      Environment: {
        Variables: Match.objectLike({
          ROTATION_KIND: 'jwt',
          ROTATION_STRATEGY: 'jwks',
          JWKS_BUCKET: { Ref: bucketId },
          JWKS_KEY: '.well-known/jwks.json',
          JWT_ALGORITHM: 'RS256',
          JWT_RSA_MODULUS_LENGTH: '2048',
          JWT_MAX_TOKEN_LIFETIME_SECONDS: '3600',
          JWKS_CACHE_SECONDS: '600',
          JWKS_CDN_CACHE_SECONDS: '0',
        }),
      },
    });
    expect(rotation.jwksMaxStaleness.toSeconds()).toBe(600);
  });

  it('keeps the bucket private: public access blocked, encrypted, TLS only, versioned', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('schedules the rotation every 30 days, rotating immediately', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: secretId },
      RotationRules: { ScheduleExpression: 'rate(30 days)' },
      RotateImmediatelyOnUpdate: true,
    });
  });

  it('grants exactly the secret’s rotation actions, the one object, and list on its bucket', () => {
    const statements = statementsOf(template, roleId);
    const byResource = (resource: unknown) =>
      statements
        .filter((s) => JSON.stringify(s.Resource) === JSON.stringify(resource))
        .flatMap((s) => [s.Action].flat());
    expect(byResource({ Ref: secretId }).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect(
      byResource({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/.well-known/jwks.json']],
      }).sort(),
    ).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(byResource({ 'Fn::GetAtt': [bucketId, 'Arn'] })).toEqual(['s3:ListBucket']);
    // the keys are generated by the function: no GetRandomPassword, nothing on '*' (found by the IAM replay)
    expect(byResource('*')).toEqual([]);
    const all = statements.flatMap((s) => [s.Action].flat());
    expect(all.filter((a) => a.startsWith('s3:')).sort()).toEqual([
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    expect(all.some((a) => a.startsWith('ssm:') || a.startsWith('events:'))).toBe(false);
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  });

  it("lets Secrets Manager invoke the function only for this account's secret", () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'secretsmanager.amazonaws.com',
    });
  });

  it('creates no distribution unless asked', () => {
    template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    expect(rotation.jwksUrl).toBeUndefined();
  });
});

describe('JwtSigningKeyRotation with an existing secret, a CDN, an SSM parameter and events', () => {
  // GIVEN
  const { stack } = fixture();
  const secret = new secretsmanager.Secret(stack, 'Existing');
  const events = new RotationEvents(stack, 'Events');
  const rotation = new JwtSigningKeyRotation(stack, 'Jwt', {
    secret,
    algorithm: 'ES256',
    maxTokenLifetime: Duration.minutes(15),
    verifierCacheLifetime: Duration.minutes(5),
    distribution: { cacheTtl: Duration.seconds(30) },
    ssmParameterName: '/auth/jwks',
    schedule: { every: Duration.days(7), window: Duration.hours(2) },
    events,
  });
  const template = Template.fromStack(stack);
  const bucketId = logicalId(stack, rotation.bucket);
  const roleId = stack.getLogicalId(rotation.rotationFunction.role!.node.defaultChild as never);
  const distributionId = logicalId(stack, rotation.distribution!);

  it('rotates the given secret and creates none', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: logicalId(stack, secret) },
      RotationRules: { ScheduleExpression: 'rate(7 days)', Duration: '2h' },
    });
  });

  it('counts the CDN’s cache in the staleness budget and tells the function', () => {
    expect(rotation.jwksMaxStaleness.toSeconds()).toBe(330);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          JWT_ALGORITHM: 'ES256',
          JWT_MAX_TOKEN_LIFETIME_SECONDS: '900',
          JWKS_CACHE_SECONDS: '300',
          JWKS_CDN_CACHE_SECONDS: '30',
          JWKS_SSM_PARAMETER: '/auth/jwks',
          EVENT_BUS_NAME: Match.anyValue(),
        }),
      },
    });
    expect(JSON.stringify(template.findResources('AWS::Lambda::Function'))).not.toContain(
      'JWT_RSA_MODULUS_LENGTH',
    );
  });

  it('serves the JWKS over HTTPS only, cached by CloudFront no longer than its TTL', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'https-only',
          AllowedMethods: ['GET', 'HEAD'],
        }),
        Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue() })],
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({ MinTTL: 0, DefaultTTL: 30, MaxTTL: 30 }),
    });
    expect(rotation.jwksUrl).toMatch(/\/\.well-known\/jwks\.json$/);
  });

  it('leaves no unacknowledged CDK warning', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('lets the distribution read the one object, and nothing else of the bucket', () => {
    const policy = Object.values(template.findResources('AWS::S3::BucketPolicy'))[0] as {
      Properties: { PolicyDocument: { Statement: Statement[] } };
    };
    const allows = policy.Properties.PolicyDocument.Statement.filter((s) => s.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(allows[0]).toEqual({
      Effect: 'Allow',
      Action: 's3:GetObject',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/.well-known/jwks.json']] },
      Condition: {
        StringEquals: {
          'AWS:SourceArn': {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':cloudfront::123456789012:distribution/',
                { Ref: distributionId },
              ],
            ],
          },
        },
      },
    });
  });

  it('grants the SSM parameter and the bus by exact ARN', () => {
    const statements = statementsOf(template, roleId);
    const ssm = statements.find((s) => [s.Action].flat().includes('ssm:PutParameter'));
    expect(ssm?.Action).toEqual(['ssm:GetParameter', 'ssm:PutParameter']);
    expect(JSON.stringify(ssm?.Resource)).toContain(':parameter/auth/jwks"');
    const put = statements.find((s) => [s.Action].flat().includes('events:PutEvents'));
    expect(JSON.stringify(put?.Resource)).toContain(logicalId(stack, events.eventBus));
  });
});

describe('JwtSigningKeyRotation grants', () => {
  it('grants verifiers GetObject on the one object, and signers read on the secret', () => {
    // GIVEN
    const { stack } = fixture();
    const rotation = new JwtSigningKeyRotation(stack, 'Jwt');
    const verifier = new iam.Role(stack, 'Verifier', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    const signer = new iam.Role(stack, 'Signer', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    // WHEN
    rotation.grantReadJwks(verifier);
    rotation.grantSign(signer);
    // THEN
    const template = Template.fromStack(stack);
    expect(statementsOf(template, stack.getLogicalId(verifier.node.defaultChild as never))).toEqual([
      {
        Action: 's3:GetObject',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            [{ 'Fn::GetAtt': [logicalId(stack, rotation.bucket), 'Arn'] }, '/.well-known/jwks.json'],
          ],
        },
      },
    ]);
    const signing = statementsOf(template, stack.getLogicalId(signer.node.defaultChild as never));
    expect(signing.flatMap((s) => [s.Action].flat()).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
  });
});

describe('JwtSigningKeyRotation under cdk-nag', () => {
  it.each<[string, JwtSigningKeyRotationProps]>([
    ['with its defaults', {}],
    ['with a CloudFront distribution', { distribution: true }],
  ])(
    'passes the AwsSolutions pack %s, every acknowledgement with its reason, and cfn-lint',
    (_case, props) => {
      const { app, stack } = fixture();
      new JwtSigningKeyRotation(stack, 'Jwt', props);
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).not.toThrow();
      const dir = mkdtempSync(join(tmpdir(), 'jwt-cfn-'));
      try {
        const file = join(dir, 'jwt.template.json');
        writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON()));
        const result = spawnSync('cfn-lint', ['--non-zero-exit-code', 'error', file], { encoding: 'utf8' });
        if (result.error) throw new Error(`cfn-lint could not run: ${result.error.message}`);
        expect(result.stdout + result.stderr).not.toMatch(/^E\d{4}/m);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('configures TLS 1.2, access logs and a WAF when given, and still passes the AwsSolutions pack', () => {
    // GIVEN a log bucket (CloudFront's standard logs need ACLs), a custom domain and a web ACL
    const { app, stack } = fixture();
    const logs = new s3.Bucket(stack, 'Logs', {
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    });
    Validations.of(logs).acknowledge({ id: 'AwsSolutions::AwsSolutions-S1', reason: 'It is the log bucket' });
    const certificate = acm.Certificate.fromCertificateArn(
      stack,
      'Cert',
      'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
    );
    // WHEN
    new JwtSigningKeyRotation(stack, 'Jwt', {
      serverAccessLogsBucket: logs,
      distribution: {
        domainNames: ['auth.example.com'],
        certificate,
        logBucket: logs,
        webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/jwks/abc',
      },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // THEN
    expect(() => app.synth()).not.toThrow();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['auth.example.com'],
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2021' }),
        Logging: Match.objectLike({ Prefix: 'jwks/' }),
        WebACLId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/jwks/abc',
      }),
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'jwks/' }),
    });
  });
});

describe('the documented example', () => {
  it('synthesizes with events and alarms and passes the AwsSolutions pack (the README and example-app snippet)', () => {
    // GIVEN the snippet given for infra/stacks/example-stack.ts and the README
    const { app, stack } = fixture();
    const events = new RotationEvents(stack, 'RotationEvents', { eventBusName: 'secret-rotation' });
    const alarms = new RotationAlarms(stack, 'RotationAlarms', { overdueMargin: Duration.hours(6) });
    const jwt = new JwtSigningKeyRotation(stack, 'OrdersApiJwt', {
      algorithm: 'ES256',
      maxTokenLifetime: Duration.minutes(15),
      verifierCacheLifetime: Duration.minutes(10),
      distribution: { cacheTtl: Duration.minutes(1) },
      schedule: { every: Duration.days(7), window: Duration.hours(4) },
      events,
    });
    alarms.watch({
      secret: jwt.secret,
      rotationFunction: jwt.rotationFunction,
      kind: jwt.kind,
      strategy: jwt.strategy,
    });
    // WHEN / THEN
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: Match.arrayWith([
        { Name: 'Kind', Value: 'jwt' },
        { Name: 'Strategy', Value: 'jwks' },
      ]),
    });
  });
});

describe('JwtSigningKeyRotation validation', () => {
  it.each<[string, JwtSigningKeyRotationProps, string]>([
    [
      'a schedule shorter than the staleness budget',
      { verifierCacheLifetime: Duration.hours(5), schedule: { every: Duration.hours(4) } },
      'JwtSigningKeyRotationProps.schedule.every (4 hours) minus the rotation window (1 hour) leaves 3 hours between two rotations, shorter than the JWKS staleness budget of 5 hours',
    ],
    [
      'a daily schedule whose default window fills the day',
      { verifierCacheLifetime: Duration.hours(1), schedule: { every: Duration.days(1) } },
      'minus the rotation window (1 day) leaves 0 seconds between two rotations',
    ],
    [
      'a window that leaves less than the budget with the CDN',
      {
        verifierCacheLifetime: Duration.hours(2),
        distribution: { cacheTtl: Duration.minutes(30) },
        schedule: { every: Duration.hours(6), window: Duration.hours(4) },
      },
      '(verifierCacheLifetime 2 hours + distribution.cacheTtl 30 minutes)',
    ],
    [
      'an unknown algorithm',
      { algorithm: 'HS256' as never },
      "JwtSigningKeyRotationProps.algorithm must be one of RS256, ES256, EdDSA, got 'HS256'",
    ],
    [
      'a weak modulus',
      { rsaModulusLength: 1024 },
      'JwtSigningKeyRotationProps.rsaModulusLength must be one of 2048, 3072, 4096, got 1024',
    ],
    [
      'a modulus with ES256',
      { algorithm: 'ES256', rsaModulusLength: 4096 },
      "JwtSigningKeyRotationProps.rsaModulusLength applies to RS256 only, but algorithm is 'ES256'",
    ],
    [
      'a token lifetime below a minute',
      { maxTokenLifetime: Duration.seconds(30) },
      'JwtSigningKeyRotationProps.maxTokenLifetime must be whole seconds from 1 minute to 7 days, got 30 seconds',
    ],
    [
      'a cache lifetime over a day',
      { verifierCacheLifetime: Duration.days(2) },
      'JwtSigningKeyRotationProps.verifierCacheLifetime must be whole seconds from 1 minute to 1 day, got 2 days',
    ],
    [
      'a CDN TTL over an hour',
      { distribution: { cacheTtl: Duration.hours(2) } },
      'JwtSigningKeyRotationProps.distribution.cacheTtl must be whole seconds from 0 seconds to 1 hour, got 2 hours',
    ],
    [
      'an object key with a leading slash',
      { jwksObjectKey: '/jwks.json' },
      "JwtSigningKeyRotationProps.jwksObjectKey must be an object key without a leading '/' or '*', got '/jwks.json'",
    ],
    [
      'a malformed SSM parameter name',
      { ssmParameterName: 'auth jwks' },
      "JwtSigningKeyRotationProps.ssmParameterName must be an SSM parameter name, got 'auth jwks'",
    ],
    [
      'domain names without a certificate',
      { distribution: { domainNames: ['auth.example.com'] } },
      'JwtSigningKeyRotationProps.distribution.certificate is required with distribution.domainNames',
    ],
  ])('rejects %s with a message naming the prop', (_case, props, message) => {
    const { stack } = fixture();
    expect(() => new JwtSigningKeyRotation(stack, 'Jwt', props)).toThrow(message);
  });

  it('rejects a secret name with an existing secret', () => {
    const { stack } = fixture();
    const secret = new secretsmanager.Secret(stack, 'S');
    expect(() => new JwtSigningKeyRotation(stack, 'Jwt', { secret, secretName: 'x' })).toThrow(
      'JwtSigningKeyRotationProps.secretName and encryptionKey are for a new secret',
    );
  });

  it('accepts the tightest schedule the rule allows, and a cron expression', () => {
    const { stack } = fixture();
    expect(
      () =>
        new JwtSigningKeyRotation(stack, 'Tight', {
          verifierCacheLifetime: Duration.hours(3),
          schedule: { every: Duration.hours(4) },
        }),
    ).not.toThrow();
    expect(
      () => new JwtSigningKeyRotation(stack, 'Cron', { schedule: { cron: 'cron(0 4 ? * SUN *)' } }),
    ).not.toThrow();
  });

  it('gives RSA-4096 key generation more CPU', () => {
    const { stack } = fixture();
    new JwtSigningKeyRotation(stack, 'Jwt', { rsaModulusLength: 4096 });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Environment: { Variables: Match.objectLike({ JWT_RSA_MODULUS_LENGTH: '4096' }) },
    });
  });
});
