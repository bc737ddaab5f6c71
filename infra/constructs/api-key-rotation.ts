import * as path from 'node:path';
import { Annotations, ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { API_GATEWAY_KEY_OWNER_TAG } from '../../functions/api-key/constants';
import {
  type HttpProviderConfig,
  parseHttpProviderConfig,
} from '../../functions/api-key/providers/http-config';
import type { RotationEvents } from './rotation-events';
import { FUNCTIONS_DIR, RotationFunction } from './rotation-function';
import {
  secretArnForPolicies as arnForPolicies,
  grantSecretRead,
  type RotationScheduleOptions,
  resolveSchedule,
  scheduleRotation,
} from './schedule';
import { tagAuditBus } from './secret-tags';

/** Where the rotated API keys live. */
export const ApiKeyProviderType = {
  /** Amazon API Gateway API keys in usage plans. */
  API_GATEWAY: 'api-gateway',
  /** A key service with an HTTP API, described declaratively. */
  HTTP: 'http',
  /** Keys our own services verify with the client library's `ApiKeyVerifier`. */
  SELF_ISSUED: 'self-issued',
} as const;
export type ApiKeyProviderType = (typeof ApiKeyProviderType)[keyof typeof ApiKeyProviderType];

/** Amazon API Gateway API keys. */
export interface ApiGatewayKeyProviderOptions {
  readonly type: 'api-gateway';
  /**
   * The usage plans the keys are in. The new key joins exactly the plans of the key it replaces, which must
   * all be listed here (the function may attach keys to these plans only).
   */
  readonly usagePlans: readonly apigateway.IUsagePlan[];
  /**
   * A URL of a method that requires the key: testSecret calls it with the new key (`x-api-key`) and expects
   * a 2xx, retrying 401/403 while the key propagates.
   * @default - testSecret checks through the API only: the key exists, is enabled, holds the value, is in the plans
   */
  readonly checkUrl?: string;
}

/** The admin credential of an HTTP key service: another secret, sent in a header. */
export interface HttpAdminCredentialOptions {
  /** The secret holding it; the function gets read access to it and nothing else on it. */
  readonly secret: secretsmanager.ISecret;
  /** The field of the secret's JSON holding the credential. @default - the whole SecretString */
  readonly field?: string;
  /** Header carrying it. @default 'Authorization' */
  readonly header?: string;
  /** Written before the credential in the header. @default 'Bearer ' */
  readonly prefix?: string;
}

/** A key service with an HTTP API. */
export interface HttpKeyProviderOptions {
  readonly type: 'http';
  /** How to issue, check, revoke (and list) keys; see `HttpProviderConfig`. `auth` comes from `adminCredential`. */
  readonly config: Omit<HttpProviderConfig, 'auth'>;
  /** The admin credential of the requests that manage keys. @default - requests carry no credential */
  readonly adminCredential?: HttpAdminCredentialOptions;
}

/** Keys our own services accept. */
export interface SelfIssuedKeyProviderOptions {
  readonly type: 'self-issued';
}

/** Where the rotated API keys live; `type` selects the provider. */
export type ApiKeyProviderOptions =
  | ApiGatewayKeyProviderOptions
  | HttpKeyProviderOptions
  | SelfIssuedKeyProviderOptions;

/** Props of an API key rotation. */
export interface ApiKeyRotationProps {
  /** The secret holding the key: `{"apiKey": "...", "keyId": "..."}` (see the README). */
  readonly secret: secretsmanager.ISecret;
  /** Where the keys live. */
  readonly provider: ApiKeyProviderOptions;
  /**
   * How long a superseded key stays valid after its successor became current: at least the time consumers
   * take to refresh (the client library's fallback refresh is 15 minutes), from 15 minutes to 30 days, and
   * shorter than the rotation interval.
   * @default Duration.hours(24)
   */
  readonly gracePeriod?: Duration;
  /**
   * How often the sweep revokes keys whose grace period is over; a key is revoked at most this long after
   * its deadline. From 5 minutes to 24 hours, whole minutes.
   * @default Duration.hours(1)
   */
  readonly sweepInterval?: Duration;
  /** When to rotate. @default every 30 days, rotating immediately */
  readonly schedule?: RotationScheduleOptions;
  /** Length of generated keys, 20 to 128 (letters and digits). @default 40 */
  readonly keyLength?: number;
  /**
   * Prefix of the names keys are issued under (`<prefix><version id>`); the sweep revokes keys under this
   * prefix that no version records, so it must belong to this secret alone.
   * @default - the secret's name followed by '-'
   */
  readonly keyNamePrefix?: string;
  /** The rotation events bus: the function publishes to it. @default - no events */
  readonly events?: RotationEvents;
  /** A VPC to run the function in (a key service reachable only there). @default - no VPC */
  readonly vpc?: ec2.IVpc;
  /** Subnets in `vpc`. @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Extra environment variables of the function (e.g. `API_KEY_CHECK_ATTEMPTS`). @default - none */
  readonly environment?: Record<string, string>;
}

/** The event the sweep rule sends the function. */
export const SWEEP_ACTION = 'sweep';

/** Every tag the function writes on the secret starts with this (deadlines, the emergency switch). */
export const API_KEY_TAG_PREFIX = 'secret-rotation:api-key:';

const MIN_GRACE = Duration.minutes(15);
const MAX_GRACE = Duration.days(30);

/**
 * Rotates an API key with a grace period: the function (`functions/api-key`), the rotation schedule, a
 * scheduled sweep that revokes superseded keys once their grace period is over, and least-privilege IAM
 * (the secret's rotation actions, tags under `secret-rotation:api-key:` on the secret, the API Gateway paths
 * of API keys and of the configured usage plans, read on the admin credential secret).
 */
export class ApiKeyRotation extends Construct implements ec2.IConnectable {
  readonly rotationFunction: lambda.IFunction;
  readonly rotationSchedule: secretsmanager.CfnRotationSchedule;
  /** The rule invoking the sweep. */
  readonly sweepRule: events.Rule;
  readonly connections: ec2.Connections;
  readonly providerType: ApiKeyProviderType;

  constructor(scope: Construct, id: string, props: ApiKeyRotationProps) {
    super(scope, id);
    const httpConfig = validate(props);
    this.providerType = props.provider.type;
    const schedule = resolveSchedule(props.schedule);
    const grace = props.gracePeriod ?? Duration.hours(24);
    if (
      schedule.interval &&
      !Token.isUnresolved(schedule.interval.toSeconds()) &&
      !Token.isUnresolved(grace.toSeconds())
    ) {
      if (grace.toSeconds() >= schedule.interval.toSeconds()) {
        throw new Error(
          `ApiKeyRotationProps.gracePeriod must be shorter than the rotation interval (${schedule.interval.toHumanString()}), got ${grace.toHumanString()}`,
        );
      }
    }
    const provider = props.provider;
    const stack = Stack.of(this);
    const environment: Record<string, string> = {
      ROTATION_KIND: 'api-key',
      ROTATION_STRATEGY: provider.type,
      API_KEY_GRACE_PERIOD_SECONDS: String(grace.toSeconds()),
      ...(props.keyLength !== undefined ? { API_KEY_LENGTH: String(props.keyLength) } : {}),
      ...(props.keyNamePrefix !== undefined ? { API_KEY_NAME_PREFIX: props.keyNamePrefix } : {}),
      ...(props.events ? { EVENT_BUS_NAME: props.events.eventBus.eventBusArn } : {}),
    };
    if (provider.type === ApiKeyProviderType.API_GATEWAY) {
      environment.API_GATEWAY_USAGE_PLAN_IDS = provider.usagePlans.map((plan) => plan.usagePlanId).join(',');
      if (provider.checkUrl) environment.API_GATEWAY_CHECK_URL = provider.checkUrl;
    } else if (provider.type === ApiKeyProviderType.HTTP && httpConfig) {
      const admin = provider.adminCredential;
      environment.HTTP_PROVIDER_CONFIG = stack.toJsonString({
        ...httpConfig,
        ...(admin
          ? {
              auth: {
                secretArn: admin.secret.secretArn,
                ...(admin.field !== undefined ? { field: admin.field } : {}),
                ...(admin.header !== undefined ? { header: admin.header } : {}),
                ...(admin.prefix !== undefined ? { prefix: admin.prefix } : {}),
              },
            }
          : {}),
      });
    }

    const fn = new RotationFunction(this, 'Rotation', {
      entry: path.join(FUNCTIONS_DIR, 'api-key', 'handler.ts'),
      // checks retry while a new key propagates, and a sweep may revoke several keys
      timeout: Duration.minutes(2),
      environment: { ...environment, ...props.environment },
      ...(props.vpc ? { vpc: props.vpc } : {}),
      ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
    });
    this.rotationFunction = fn.function;
    this.connections = fn.function.isBoundToVpc ? fn.function.connections : new ec2.Connections();

    // A key service that generates the keys itself (issue.keyValuePointer) needs no GetRandomPassword:
    // the function never generates one (found by the IAM replay, test/infra/iam-replay.test.ts).
    const serviceGeneratesKeys =
      provider.type === ApiKeyProviderType.HTTP && provider.config.issue?.keyValuePointer !== undefined;
    // ListSecretVersionIds: a sweep that revokes a superseded key reads when its successor was created, for
    // the revocation latency (RevocationLatency, docs/api-keys.md).
    this.rotationSchedule = scheduleRotation(this, props.secret, fn.function, schedule, {
      randomPassword: !serviceGeneratesKeys,
      listVersions: true,
    });

    const secretArnForPolicies = arnForPolicies(props.secret);
    // Revocation deadlines and the emergency switch are tags on the secret; only tags under our prefix.
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:TagResource', 'secretsmanager:UntagResource'],
        resources: [secretArnForPolicies],
        conditions: { 'ForAllValues:StringLike': { 'aws:TagKeys': [`${API_KEY_TAG_PREFIX}*`] } },
      }),
    );
    const acknowledgements: Array<{ id: string; reason: string }> = [];

    if (provider.type === ApiKeyProviderType.API_GATEWAY) {
      const apigw = (resource: string) =>
        stack.formatArn({
          service: 'apigateway',
          account: '',
          resource,
          arnFormat: ArnFormat.NO_RESOURCE_NAME,
        });
      // Key ids are assigned by API Gateway when a key is created, so the key paths cannot name them: the
      // function creates keys only with its owner tag, and reads or deletes only keys carrying it.
      const ownerTag = API_GATEWAY_KEY_OWNER_TAG;
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['apigateway:GET'], resources: [apigw('/apikeys')] }),
      );
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['apigateway:POST'],
          resources: [apigw('/apikeys')],
          conditions: {
            StringLike: { [`aws:RequestTag/${ownerTag}`]: secretArnForPolicies },
            'ForAllValues:StringEquals': { 'aws:TagKeys': [ownerTag] },
          },
        }),
      );
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['apigateway:GET', 'apigateway:DELETE'],
          resources: [apigw('/apikeys/*')],
          conditions: { StringLike: { [`aws:ResourceTag/${ownerTag}`]: secretArnForPolicies } },
        }),
      );
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['apigateway:GET'], resources: [apigw('/usageplans')] }),
      );
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          // adds a key to a plan (CreateUsagePlanKey); the plan's key list is never read
          actions: ['apigateway:POST'],
          resources: provider.usagePlans.map((plan) => apigw(`/usageplans/${plan.usagePlanId}/keys`)),
        }),
      );
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['apigateway:GET'],
          resources: provider.usagePlans.map((plan) => apigw(`/usageplans/${plan.usagePlanId}/keys/*`)),
        }),
      );
      acknowledgements.push({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:${regionForNag(stack)}::/apikeys/*]`,
        reason: `API Gateway assigns key ids at creation: the function reads and deletes only keys tagged ${API_GATEWAY_KEY_OWNER_TAG}=<this secret>, under /apikeys/*`,
      });
      for (const plan of provider.usagePlans) {
        acknowledgements.push({
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:${regionForNag(stack)}::/usageplans/${nagToken(stack, plan.usagePlanId)}/keys/*]`,
          reason:
            "Reads whether a key is in one of the configured usage plans: the plan is named, the key's id is not known in advance",
        });
      }
    }
    if (provider.type === ApiKeyProviderType.HTTP && provider.adminCredential) {
      grantSecretRead(fn.function, provider.adminCredential.secret, this);
    }
    this.#protectTags(props.secret, fn.function);
    if (!props.secret.secretFullArn) {
      acknowledgements.push({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagToken(stack, props.secret.secretArn)}-??????]`,
        reason:
          "A secret imported by name: '-??????' matches the six characters Secrets Manager appends to its ARN",
      });
    }
    props.events?.eventBus.grantPutEventsTo(fn.function);
    // The CLI's rollback and fleet rotation record on the same bus (secret-rotation:event-bus)
    if (props.events) tagAuditBus(props.secret, props.events.eventBus);
    for (const acknowledgement of acknowledgements)
      Validations.of(fn.function.role ?? fn.function).acknowledge(acknowledgement);

    this.sweepRule = new events.Rule(this, 'Sweep', {
      description: 'Revokes superseded API keys once their grace period is over',
      schedule: events.Schedule.rate(props.sweepInterval ?? Duration.hours(1)),
      targets: [
        new targets.LambdaFunction(fn.function, {
          event: events.RuleTargetInput.fromObject({
            Action: SWEEP_ACTION,
            SecretId: props.secret.secretArn,
          }),
          retryAttempts: 2,
        }),
      ],
    });
  }

  /**
   * Revocation deadlines and the emergency switch are tags on the secret: whoever may tag it controls when
   * keys are revoked. The secret's resource policy denies our tag keys to every principal but the rotation
   * role. An imported secret (or one in another stack) has its resource policy elsewhere: a warning says what
   * to add there.
   */
  #protectTags(secret: secretsmanager.ISecret, fn: lambda.IFunction): void {
    const role = fn.role;
    if (!role) return;
    // A secret of another stack: its policy there would reference our role and make a cycle.
    const sameStack = Stack.of(secret) === Stack.of(this);
    const statement = new iam.PolicyStatement({
      sid: 'OnlyTheRotationRoleTagsApiKeyRevocation',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['secretsmanager:TagResource', 'secretsmanager:UntagResource'],
      resources: ['*'],
      conditions: {
        'ForAnyValue:StringLike': { 'aws:TagKeys': [`${API_KEY_TAG_PREFIX}*`] },
        ArnNotEquals: { 'aws:PrincipalArn': role.roleArn },
      },
    });
    const added = sameStack ? secret.addToResourcePolicy(statement).statementAdded : false;
    if (!added) {
      Annotations.of(this).addWarningV2(
        'secret-rotation:api-key-tags-unprotected',
        `The secret's resource policy is not managed here: add a statement that denies secretsmanager:TagResource and ` +
          `UntagResource of tag keys '${API_KEY_TAG_PREFIX}*' to every principal but the rotation role, or anyone ` +
          'allowed to tag the secret controls when its API keys are revoked.',
      );
    }
  }
}

/** The region as cdk-nag prints it in a finding id. */
function regionForNag(stack: Stack): string {
  return Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
}

/** A value as cdk-nag prints it in a finding id: `<LogicalId>` for a Ref, `<LogicalId.Attr>` for a GetAtt. */
function nagToken(stack: Stack, value: string): string {
  if (!Token.isUnresolved(value)) return value;
  const render = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const n = node as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, unknown[]] };
    if (n.Ref) return `<${n.Ref}>`;
    if (n['Fn::GetAtt']) return `<${n['Fn::GetAtt'].join('.')}>`;
    if (n['Fn::Join']) return n['Fn::Join'][1].map(render).join(n['Fn::Join'][0]);
    return JSON.stringify(node);
  };
  return render(stack.resolve(value));
}

function validate(props: ApiKeyRotationProps): Omit<HttpProviderConfig, 'auth'> | undefined {
  const provider = props.provider as ApiKeyProviderOptions | undefined;
  const types = Object.values(ApiKeyProviderType);
  if (!provider || !(types as readonly string[]).includes(provider.type)) {
    throw new Error(
      `ApiKeyRotationProps.provider.type must be one of ${types.join(', ')}, got '${String(provider?.type)}'`,
    );
  }
  const grace = props.gracePeriod;
  if (grace && !Token.isUnresolved(grace.toSeconds())) {
    if (grace.toSeconds() < MIN_GRACE.toSeconds() || grace.toSeconds() > MAX_GRACE.toSeconds()) {
      throw new Error(
        `ApiKeyRotationProps.gracePeriod must be from 15 minutes (consumers' refresh time) to 30 days, got ${grace.toHumanString()}`,
      );
    }
  }
  const sweep = props.sweepInterval;
  if (sweep && !Token.isUnresolved(sweep.toSeconds())) {
    const minutes = sweep.toMinutes({ integral: false });
    if (minutes < 5 || minutes > 24 * 60 || !Number.isInteger(minutes)) {
      throw new Error(
        `ApiKeyRotationProps.sweepInterval must be whole minutes from 5 minutes to 24 hours, got ${sweep.toHumanString()}`,
      );
    }
  }
  const length = props.keyLength;
  if (
    length !== undefined &&
    !Token.isUnresolved(length) &&
    (!Number.isInteger(length) || length < 20 || length > 128)
  ) {
    throw new Error(`ApiKeyRotationProps.keyLength must be an integer from 20 to 128, got ${length}`);
  }
  const prefix = props.keyNamePrefix;
  if (
    prefix !== undefined &&
    !Token.isUnresolved(prefix) &&
    (prefix === '' || prefix.length > 128 || /[\s{}]/.test(prefix))
  ) {
    throw new Error(
      `ApiKeyRotationProps.keyNamePrefix must be 1 to 128 characters without spaces or braces, got '${prefix}'`,
    );
  }
  switch (provider.type) {
    case ApiKeyProviderType.API_GATEWAY: {
      if (!provider.usagePlans || provider.usagePlans.length === 0) {
        throw new Error(
          'ApiKeyRotationProps.provider.usagePlans must name at least one usage plan for the api-gateway provider',
        );
      }
      const url = provider.checkUrl;
      if (url !== undefined && !Token.isUnresolved(url) && !/^https:\/\/[^/]/.test(url)) {
        throw new Error(`ApiKeyRotationProps.provider.checkUrl must be an https URL, got '${url}'`);
      }
      return undefined;
    }
    case ApiKeyProviderType.HTTP: {
      if (!provider.config)
        throw new Error('ApiKeyRotationProps.provider.config is required for the http provider');
      if ((provider.config as HttpProviderConfig).auth !== undefined) {
        throw new Error(
          'ApiKeyRotationProps.provider.config.auth is set by the construct: give the admin secret as provider.adminCredential',
        );
      }
      // Tokens (a URL from another construct) are checked by the function at cold start instead.
      if (Token.isUnresolved(JSON.stringify(provider.config))) return provider.config;
      return parseHttpProviderConfig(provider.config, 'ApiKeyRotationProps.provider.config');
    }
    case ApiKeyProviderType.SELF_ISSUED:
      return undefined;
  }
}
