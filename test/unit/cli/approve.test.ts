import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { ApprovalTag } from '../../../functions/approval/approvals';
import { ACCOUNT_ARN, described, run } from './harness';

const sm = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);
const REQUEST = '11111111-1111-4111-8111-111111111111';
const ARN = `${ACCOUNT_ARN}orders-AbCdEf`;

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}
let server: Server;
let url: string;
let seen: Seen[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const saved = { ...process.env };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => new Promise((resolve) => server.close(resolve)));

beforeEach(() => {
  sm.reset();
  sts.reset();
  seen = [];
  // the SDK's default chain, as the CLI resolves it: here from the environment
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    AWS_REGION: 'eu-west-1',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  sm.on(DescribeSecretCommand).resolves(
    described(
      'orders',
      {},
      {
        Tags: [
          { Key: ApprovalTag.TABLE, Value: 'approvals' },
          { Key: ApprovalTag.URL, Value: url },
        ],
      },
    ),
  );
});
afterEach(() => {
  process.env = { ...saved };
});

const approved = {
  secretArn: ARN,
  requestId: REQUEST,
  state: 'approved',
  requestedBy: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
  decidedBy: 'arn:aws:sts::123456789012:assumed-role/oncall/bob',
  reason: 'CHG-1',
  expiresAt: '2026-01-01T00:00:00.000Z',
  fourEyes: true,
  fourEyesBy: 'person',
  rotationStarted: true,
};

describe('approve and deny through the function URL, signed with SigV4', () => {
  it("POSTs the decision to the URL of the secret's tag, signed for service lambda, with no identity in the body", async () => {
    answer = { status: 200, body: approved };
    const out = await run(['approve', 'orders', '--reason', 'CHG-1', '--json']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({
      requestId: REQUEST,
      state: 'approved',
      decidedBy: approved.decidedBy,
      rotationVersionId: REQUEST,
    });
    expect(seen).toHaveLength(1);
    const [request] = seen as [Seen];
    expect(request.method).toBe('POST');
    expect(JSON.parse(request.body)).toEqual({ action: 'approve', secretArn: ARN, reason: 'CHG-1' });
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    // nobody asked STS who we are: the decider learns it from the signature
    expect(sts.calls()).toHaveLength(0);
  });

  it("passes --request and an emergency bypass as the body says, and prints the decider's refusal", async () => {
    answer = {
      status: 403,
      body: {
        error: 'own-request',
        message: `approval request ${REQUEST} ... four-eyes requires another person to approve`,
      },
    };
    const own = await run(['deny', 'orders', '--request', REQUEST, '--reason', 'no']);
    expect(own.code).toBe(1);
    expect(own.stderr).toContain('four-eyes requires another person to approve');
    expect(JSON.parse((seen[0] as Seen).body)).toEqual({
      action: 'deny',
      secretArn: ARN,
      reason: 'no',
      requestId: REQUEST,
    });
    answer = { status: 200, body: { ...approved, state: 'bypassed' } };
    expect((await run(['approve', 'orders', '--emergency', '--reason', 'INC-1'])).code).toBe(0);
    expect(JSON.parse((seen[1] as Seen).body)).toEqual({ action: 'bypass', secretArn: ARN, reason: 'INC-1' });
  });

  it('says the caller lacks lambda:InvokeFunctionUrl when Lambda itself refuses the signature', async () => {
    answer = { status: 403, body: { Message: 'Forbidden' } };
    const out = await run(['approve', 'orders', '--reason', 'x']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('the decider refused the call (Forbidden)');
    expect(out.stderr).toContain('grantApprove');
  });

  it('refuses a secret without the URL tag, naming the tag', async () => {
    sm.on(DescribeSecretCommand).resolves(
      described('orders', {}, { Tags: [{ Key: ApprovalTag.TABLE, Value: 'approvals' }] }),
    );
    const out = await run(['approve', 'orders', '--reason', 'x']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`no ${ApprovalTag.URL} tag`);
    expect(seen).toHaveLength(0);
  });
});
