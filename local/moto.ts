import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort, stopProcess, trackChild, waitFor } from './databases/common';

/** moto's server, serving the AWS APIs on loopback. */
export interface LocalAws {
  /** The endpoint to give the AWS SDK (`AWS_ENDPOINT_URL` or a client's `endpoint`). */
  readonly endpoint: string;
  /** Client configuration for the unmodified AWS SDK against this server. */
  readonly clientConfig: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  stop(): Promise<void>;
}

/** Whether `python3 -m moto.server` can run here. */
export function motoAvailable(python = 'python3'): boolean {
  const probe = spawnSync(python, ['-c', 'import moto.server'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** Starts moto's server on a free loopback port and waits until it answers. */
export async function startMoto(python = 'python3'): Promise<LocalAws> {
  if (!motoAvailable(python)) {
    throw new Error(`moto's server is not installed for ${python}: run  pip install "moto[server]"`);
  }
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'moto',
      async () => {
        try {
          return (await fetch(`${endpoint}/moto-api/`)).ok;
        } catch {
          return false;
        }
      },
      child,
      () => output,
    );
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return {
    endpoint,
    clientConfig: {
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    },
    stop: () => stopProcess(child),
  };
}
