import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RotationEvents } from '../../infra/constructs';
import { ApiKeyRotation, type ApiKeyRotationProps } from '../../infra/constructs/api-key-rotation';

const REGION = 'eu-west-1';

function fixture(options: { nag?: boolean } = {}) {
  const app = new App();
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: REGION } });
  const secret = new secretsmanager.Secret(stack, 'ApiKey');
  return { app, stack, secret };
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

const apigatewayArn = (path: string, ...tokens: unknown[]) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:apigateway:${REGION}::${path}`, ...tokens]],
});

const HTTP_CONFIG = {
  baseUrl: 'https://keys.example.com',
  issue: { url: '/admin/keys', body: { name: '{keyName}' }, keyIdPointer: '/id', keyValuePointer: '/key' },
  check: { url: '/v1/whoami' },
  revoke: { url: '/admin/keys/{keyId}' },
  list: { url: '/admin/keys', itemsPointer: '/keys', keyIdPointer: '/id', namePointer: '/name' },
};

describe('ApiKeyRotation with API Gateway keys', () => {
  // GIVEN one stack with an API Gateway key rotation, synthesized once
  const { app, stack, secret } = fixture({ nag: true });
  const plan = new apigateway.UsagePlan(stack, 'Plan', {});
  const events = new RotationEvents(stack, 'Events');
  const rotation = new ApiKeyRotation(stack, 'Rotation', {
    secret,
    provider: { type: 'api-gateway', usagePlans: [plan] },
    gracePeriod: Duration.hours(6),
    schedule: { every: Duration.days(7) },
    events,
  });
  const template = Template.fromStack(stack);
  const planId = { Ref: logicalId(stack, plan) };

  it('deploys the api-key function with its kind, provider, grace period and usage plans', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Environment: {
        Variables: Match.objectLike({
          ROTATION_KIND: 'api-key',
          ROTATION_STRATEGY: 'api-gateway',
          API_KEY_GRACE_PERIOD_SECONDS: '21600',
          API_GATEWAY_USAGE_PLAN_IDS: planId,
          EVENT_BUS_NAME: Match.anyValue(),
        }),
      },
    });
    expect(rotation.providerType).toBe('api-gateway');
  });

  it('schedules the rotation on the secret', () => {
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: logicalId(stack, secret) },
      RotationRules: { ScheduleExpression: 'rate(7 days)' },
    });
  });

  it('invokes the function hourly with the sweep event naming the secret', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [
        Match.objectLike({
          Input: {
            'Fn::Join': ['', ['{"Action":"sweep","SecretId":"', { Ref: logicalId(stack, secret) }, '"}']],
          },
          RetryPolicy: { MaximumRetryAttempts: 2 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalId(stack, rotation.sweepRule), 'Arn'] },
    });
  });

  it('grants exactly the API Gateway paths of API keys and of the configured usage plan', () => {
    const onApiGateway = statements(template).filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('apigateway:')),
    );
    const ownedBySecret = {
      'aws:ResourceTag/secret-rotation:api-key:secret': { Ref: logicalId(stack, secret) },
    };
    expect(
      onApiGateway.map((s) => ({
        Action: s.Action,
        Resource: s.Resource,
        ...(s.Condition ? { Condition: s.Condition } : {}),
      })),
    ).toEqual([
      { Action: 'apigateway:GET', Resource: apigatewayArn('/apikeys') },
      {
        Action: 'apigateway:POST',
        Resource: apigatewayArn('/apikeys'),
        Condition: {
          StringLike: { 'aws:RequestTag/secret-rotation:api-key:secret': { Ref: logicalId(stack, secret) } },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['secret-rotation:api-key:secret'] },
        },
      },
      {
        Action: ['apigateway:GET', 'apigateway:DELETE'],
        Resource: apigatewayArn('/apikeys/*'),
        Condition: { StringLike: ownedBySecret },
      },
      { Action: 'apigateway:GET', Resource: apigatewayArn('/usageplans') },
      {
        Action: 'apigateway:POST',
        Resource: apigatewayArn('/usageplans/', planId, '/keys'),
      },
      { Action: 'apigateway:GET', Resource: apigatewayArn('/usageplans/', planId, '/keys/*') },
    ]);
  });

  it('may tag and untag the one secret, only with tags under secret-rotation:api-key:', () => {
    const tagging = statements(template).filter((s) =>
      [s.Action].flat().includes('secretsmanager:TagResource'),
    );
    expect(tagging).toEqual([
      {
        Action: ['secretsmanager:TagResource', 'secretsmanager:UntagResource'],
        Effect: 'Allow',
        Resource: { Ref: logicalId(stack, secret) },
        Condition: { 'ForAllValues:StringLike': { 'aws:TagKeys': ['secret-rotation:api-key:*'] } },
      },
    ]);
  });

  it("grants the secret's rotation actions on the one secret, and only GetRandomPassword on '*'", () => {
    const all = statements(template);
    const onSecret = all.filter(
      (s) => JSON.stringify(s.Resource) === JSON.stringify({ Ref: logicalId(stack, secret) }),
    );
    const actions = onSecret.flatMap((s) => [s.Action].flat());
    for (const action of [
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]) {
      expect(actions).toContain(action);
    }
    const wildcard = all.filter((s) => s.Resource === '*');
    expect(wildcard.flatMap((s) => [s.Action].flat())).toEqual(['secretsmanager:GetRandomPassword']);
    expect(all.some((s) => [s.Action].flat().includes('events:PutEvents'))).toBe(true);
  });

  it("passes cdk-nag's AwsSolutions pack with every acknowledgement carrying its reason", () => {
    expect(() => app.synth()).not.toThrow();
  });
});

describe('ApiKeyRotation with an HTTP key service', () => {
  it('passes the JSON configuration with the admin secret ARN, and may read that secret only', () => {
    // GIVEN
    const { app, stack, secret } = fixture({ nag: true });
    const admin = new secretsmanager.Secret(stack, 'Admin');
    Validations.of(admin).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason: "The key service's admin credential is rotated by that service's owners, not by this stack",
    });
    // WHEN
    new ApiKeyRotation(stack, 'Rotation', {
      secret,
      provider: {
        type: 'http',
        config: HTTP_CONFIG,
        adminCredential: { secret: admin, field: 'token', header: 'X-Admin-Token', prefix: '' },
      },
      keyNamePrefix: 'orders-',
      sweepInterval: Duration.minutes(15),
    });
    // THEN
    const template = Template.fromStack(stack);
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (r) =>
        (r as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties
          .Environment?.Variables?.ROTATION_STRATEGY === 'http',
    ) as { Properties: { Environment: { Variables: Record<string, unknown> } } };
    const variables = fn.Properties.Environment.Variables;
    expect(variables.API_KEY_NAME_PREFIX).toBe('orders-');
    const joined = JSON.stringify(variables.HTTP_PROVIDER_CONFIG);
    expect(joined).toContain(logicalId(stack, admin));
    expect(joined).toContain('X-Admin-Token');
    const onAdmin = statements(template).filter(
      (s) => JSON.stringify(s.Resource) === JSON.stringify({ Ref: logicalId(stack, admin) }),
    );
    expect(onAdmin.flatMap((s) => [s.Action].flat()).sort()).toEqual(['secretsmanager:GetSecretValue']);
    expect(statements(template).some((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')))).toBe(
      false,
    );
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    expect(() => app.synth()).not.toThrow();
  });
});

describe('ApiKeyRotation with self-issued keys', () => {
  it('needs no provider permission and sets no provider configuration', () => {
    // GIVEN
    const { stack, secret } = fixture();
    // WHEN
    new ApiKeyRotation(stack, 'Rotation', { secret, provider: { type: 'self-issued' } });
    // THEN
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          ROTATION_STRATEGY: 'self-issued',
          API_KEY_GRACE_PERIOD_SECONDS: '86400',
          HTTP_PROVIDER_CONFIG: Match.absent(),
          API_GATEWAY_USAGE_PLAN_IDS: Match.absent(),
        }),
      },
    });
    expect(statements(template).some((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')))).toBe(
      false,
    );
  });

  it("scopes the tag permission to the imported secret's ARN with Secrets Manager's six-character suffix", () => {
    // GIVEN a secret imported by name
    const { app, stack, secret } = fixture({ nag: true });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason: 'Unused in this test',
    });
    const imported = secretsmanager.Secret.fromSecretNameV2(stack, 'Imported', 'orders/api-key');
    // WHEN
    new ApiKeyRotation(stack, 'Rotation', { secret: imported, provider: { type: 'self-issued' } });
    // THEN
    const tagging = statements(Template.fromStack(stack)).find((s) =>
      [s.Action].flat().includes('secretsmanager:TagResource'),
    );
    expect(JSON.stringify(tagging?.Resource)).toContain(':secret:orders/api-key-??????');
    expect(() => app.synth()).not.toThrow();
  });
});

describe('ApiKeyRotation validation', () => {
  const cases: Array<[string, (base: { stack: Stack }) => Partial<ApiKeyRotationProps>, string]> = [
    ['an unknown provider', () => ({ provider: { type: 'vault' } as never }), 'provider.type must be one of'],
    [
      'API Gateway without usage plans',
      () => ({ provider: { type: 'api-gateway', usagePlans: [] } }),
      'provider.usagePlans must name at least one usage plan',
    ],
    [
      'a check URL over http',
      ({ stack }) => ({
        provider: {
          type: 'api-gateway',
          usagePlans: [apigateway.UsagePlan.fromUsagePlanId(stack, 'P', 'abc123')],
          checkUrl: 'http://api.example.com/',
        },
      }),
      'provider.checkUrl must be an https URL',
    ],
    [
      'a grace period shorter than consumers refresh',
      () => ({ provider: { type: 'self-issued' }, gracePeriod: Duration.minutes(5) }),
      'gracePeriod must be from 15 minutes',
    ],
    [
      'a grace period as long as the rotation interval',
      () => ({
        provider: { type: 'self-issued' },
        gracePeriod: Duration.days(2),
        schedule: { every: Duration.days(2) },
      }),
      'gracePeriod must be shorter than the rotation interval (2 days)',
    ],
    [
      'a sweep every 90 seconds',
      () => ({ provider: { type: 'self-issued' }, sweepInterval: Duration.seconds(90) }),
      'sweepInterval must be whole minutes from 5 minutes to 24 hours',
    ],
    [
      'a 16-character key',
      () => ({ provider: { type: 'self-issued' }, keyLength: 16 }),
      'keyLength must be an integer from 20 to 128',
    ],
    [
      'a key name prefix with a space',
      () => ({ provider: { type: 'self-issued' }, keyNamePrefix: 'orders keys' }),
      'keyNamePrefix must be 1 to 128 characters',
    ],
    [
      'an HTTP service over plain http',
      () => ({ provider: { type: 'http', config: { ...HTTP_CONFIG, baseUrl: 'http://keys.example.com' } } }),
      'ApiKeyRotationProps.provider.config.baseUrl must use https',
    ],
    [
      'an HTTP key in a URL',
      () => ({
        provider: { type: 'http', config: { ...HTTP_CONFIG, check: { url: '/v1/check/{apiKey}' } } },
      }),
      'ApiKeyRotationProps.provider.config.check.url must not contain {apiKey}',
    ],
    [
      'an HTTP admin credential inside the config',
      () => ({
        provider: {
          type: 'http',
          config: {
            ...HTTP_CONFIG,
            auth: { secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' },
          } as never,
        },
      }),
      'provider.config.auth is set by the construct',
    ],
  ];

  it.each(cases)('rejects %s with a message naming the prop', (_name, props, message) => {
    const { stack, secret } = fixture();
    expect(
      () =>
        new ApiKeyRotation(stack, 'R', { secret, provider: { type: 'self-issued' }, ...props({ stack }) }),
    ).toThrow(message);
  });
});
