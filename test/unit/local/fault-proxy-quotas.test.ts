import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultProxy, startFaultProxy } from '../../../local/fault-proxy';

describe('the fault proxy with a quota per group of operations', () => {
  let target: Server;
  let proxy: FaultProxy;

  beforeAll(async () => {
    target = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const { port } = target.address() as AddressInfo;
    // A clock that never moves: a bucket never refills, so what passes is exactly its burst.
    proxy = await startFaultProxy({
      target: `http://127.0.0.1:${port}`,
      now: () => 0,
      quotas: [
        {
          name: 'write',
          ratePerSecond: 50,
          burst: 2,
          operations: ['PutSecretValue', 'UpdateSecretVersionStage'],
        },
        { name: 'getValue', ratePerSecond: 10_000, burst: 1000, operations: ['GetSecretValue'] },
      ],
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await new Promise((resolve) => target.close(resolve));
  });

  const call = async (operation: string) =>
    (
      await fetch(proxy.endpoint, {
        method: 'POST',
        headers: {
          'x-amz-target': `secretsmanager.${operation}`,
          'content-type': 'application/x-amz-json-1.1',
        },
        body: '{}',
      })
    ).status;

  it('throttles the operations of a group together, and not the reads of another group', async () => {
    // WHEN two writes of different operations use the write group's burst, and a third write follows
    const writes = [
      await call('PutSecretValue'),
      await call('UpdateSecretVersionStage'),
      await call('PutSecretValue'),
    ];
    // THEN the third is throttled as AWS answers a quota
    expect(writes).toEqual([200, 200, 400]);
    // AND reads in their own group still pass, as do operations in no group
    expect([
      await call('GetSecretValue'),
      await call('GetSecretValue'),
      await call('DescribeSecret'),
    ]).toEqual([200, 200, 200]);
    expect(proxy.stats.throttled).toBe(1);
    expect(proxy.stats.throttledByQuota).toEqual({ write: 1 });
  });
});
