import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { HttpResponse } from '@smithy/core/protocols';
import type { HttpRequest } from '@smithy/types';

type HttpHandler = NonNullable<
  NonNullable<ConstructorParameters<typeof SecretsManagerClient>[0]>['requestHandler']
>;

import { SDK_RETRY_CONFIG } from '../../../functions/rotation/sdk-config';
import { countThrottles, ThrottleCount, withThrottleCount } from '../../../functions/rotation/throttles';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A request handler that answers each attempt in turn from `answers` (the last one repeats). */
function scripted(answers: Answer[]): { handler: HttpHandler; attempts: () => number } {
  let attempts = 0;
  const handler = {
    handle: async (_request: HttpRequest) => {
      const answer = answers[Math.min(attempts, answers.length - 1)]!;
      attempts++;
      return {
        response: new HttpResponse({
          statusCode: answer.status,
          headers: answer.headers,
          body: Readable.from([Buffer.from(answer.body)]),
        }),
      };
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({}),
  };
  return { handler, attempts: () => attempts };
}

// JSON protocol (awsJson1_1): the error code in `__type`, HTTP 400.
const SM_THROTTLED: Answer = {
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'r1' },
  body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
};
const SM_DESCRIBED: Answer = {
  status: 200,
  headers: { 'content-type': 'application/x-amz-json-1.1' },
  body: JSON.stringify({ ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:s-AbCdEf', Name: 's' }),
};
const SM_NOT_FOUND: Answer = {
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.1' },
  body: JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such secret' }),
};

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' };

function secretsManager(handler: HttpHandler): SecretsManagerClient {
  return countThrottles(
    new SecretsManagerClient({
      ...SDK_RETRY_CONFIG,
      region: 'us-east-1',
      credentials: CREDENTIALS,
      requestHandler: handler,
    }),
  );
}

describe('countThrottles: every throttled attempt, including those the SDK retried successfully', () => {
  it('counts 3 for a request that succeeded after 3 ThrottlingException (HTTP 400, JSON protocol)', async () => {
    const { handler, attempts } = scripted([SM_THROTTLED, SM_THROTTLED, SM_THROTTLED, SM_DESCRIBED]);
    const client = secretsManager(handler);
    const count = new ThrottleCount();
    const out = await withThrottleCount(count, () =>
      client.send(new DescribeSecretCommand({ SecretId: 's' })),
    );
    expect(out.Name).toBe('s');
    expect(attempts()).toBe(4);
    expect(count.value).toBe(3);
  }, 60_000);

  it('counts S3 SlowDown (HTTP 503, REST-XML protocol) as throttling', async () => {
    const slowDown: Answer = {
      status: 503,
      headers: { 'content-type': 'application/xml' },
      body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
    };
    const ok: Answer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
    const { handler } = scripted([slowDown, ok]);
    const client = countThrottles(
      new S3Client({
        ...SDK_RETRY_CONFIG,
        region: 'us-east-1',
        credentials: CREDENTIALS,
        requestHandler: handler,
      }),
    );
    const count = new ThrottleCount();
    const out = await withThrottleCount(count, () =>
      client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })),
    );
    await out.Body?.transformToString();
    expect(count.value).toBe(1);
  }, 60_000);

  it('does not count other errors, and counts each invocation apart', async () => {
    const { handler } = scripted([SM_NOT_FOUND]);
    const client = secretsManager(handler);
    const count = new ThrottleCount();
    await expect(
      withThrottleCount(count, () => client.send(new DescribeSecretCommand({ SecretId: 's' }))),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(count.value).toBe(0);

    const throttledOnce = scripted([SM_THROTTLED, SM_DESCRIBED]);
    const other = secretsManager(throttledOnce.handler);
    const a = new ThrottleCount();
    const b = new ThrottleCount();
    await Promise.all([
      withThrottleCount(a, () => other.send(new DescribeSecretCommand({ SecretId: 's' }))),
      withThrottleCount(b, () => client.send(new DescribeSecretCommand({ SecretId: 's' })).catch(() => {})),
    ]);
    expect(a.value).toBe(1);
    expect(b.value).toBe(0);
  }, 60_000);

  it('counts nothing outside an invocation, and adding the middleware twice counts once', async () => {
    const { handler } = scripted([SM_THROTTLED, SM_DESCRIBED]);
    const client = countThrottles(secretsManager(handler));
    await client.send(new DescribeSecretCommand({ SecretId: 's' }));
    const again = scripted([SM_THROTTLED, SM_DESCRIBED]);
    const twice = countThrottles(secretsManager(again.handler));
    const count = new ThrottleCount();
    await withThrottleCount(count, () => twice.send(new DescribeSecretCommand({ SecretId: 's' })));
    expect(count.value).toBe(1);
  }, 60_000);
});

describe('nested counters', () => {
  it('counts an attempt in the innermost counter and in those around it, not in a sibling', async () => {
    const { handler } = scripted([SM_THROTTLED, SM_THROTTLED, SM_DESCRIBED]);
    const client = secretsManager(handler);
    const run = new ThrottleCount();
    const invocation = new ThrottleCount();
    const sibling = new ThrottleCount();
    await withThrottleCount(run, async () => {
      await withThrottleCount(sibling, async () => {});
      await withThrottleCount(invocation, () => client.send(new DescribeSecretCommand({ SecretId: 's' })));
    });
    expect([run.value, invocation.value, sibling.value]).toEqual([2, 2, 0]);
  }, 60_000);
});
