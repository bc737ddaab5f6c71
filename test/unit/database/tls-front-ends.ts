import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, TLSSocket } from 'node:tls';
import { makeCertificates } from '../../../local/databases/common';

/** A CA and a server certificate it signed, for one set of subject alternative names. */
export interface TestCertificates {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Makes a throwaway CA and a server certificate for `altNames` (openssl syntax: `IP:127.0.0.1,DNS:x`). */
export function makeTestCertificates(altNames: string): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'tls-front-end-'));
  try {
    const made = makeCertificates(dir, altNames.split(','));
    return {
      caPem: made.caPem,
      certPem: readFileSync(made.certFile, 'utf8'),
      keyPem: readFileSync(made.keyFile, 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TlsFrontEnd {
  readonly port: number;
  /** Connections whose TLS handshake completed. */
  readonly handshakes: number;
  close(): Promise<void>;
}

/**
 * PostgreSQL's side up to the login: answers the SSLRequest with `S`, completes TLS with `certs`, then refuses
 * the startup message with SQLSTATE 28P01 (password authentication failed). A client that gets 28P01 has
 * accepted the server's certificate; one that refused it gets a TLS error instead.
 */
export function startPostgresFrontEnd(certs: TestCertificates): Promise<TlsFrontEnd> {
  return listen(certs, (socket, upgrade) => {
    socket.once('data', () => {
      socket.write('S');
      upgrade((secure) => {
        secure.once('data', () => {
          const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0', 'utf8');
          const header = Buffer.alloc(5);
          header.write('E', 0);
          header.writeInt32BE(fields.length + 4, 1);
          secure.end(Buffer.concat([header, fields]));
        });
      });
    });
  });
}

/**
 * MySQL's side up to the login: a protocol-10 greeting that offers TLS, TLS with `certs` after the client's
 * SSLRequest, then error 1045 (access denied) for the handshake response.
 */
export function startMySqlFrontEnd(certs: TestCertificates): Promise<TlsFrontEnd> {
  return listen(certs, (socket, upgrade) => {
    // LONG_PASSWORD | PROTOCOL_41 | SSL | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH
    const capabilities = 0x1 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x80000;
    const greeting = Buffer.concat([
      Buffer.from([10]),
      Buffer.from('8.0.36\0', 'latin1'),
      Buffer.from([1, 0, 0, 0]),
      Buffer.from('abcdefgh', 'latin1'),
      Buffer.from([0]),
      u16(capabilities & 0xffff),
      Buffer.from([45]),
      u16(2),
      u16(capabilities >>> 16),
      Buffer.from([21]),
      Buffer.alloc(10),
      Buffer.from('ijklmnopqrst\0', 'latin1'),
      Buffer.from('mysql_native_password\0', 'latin1'),
    ]);
    socket.write(packet(0, greeting));
    socket.once('data', (chunk: Buffer) => {
      // The client may send its TLS ClientHello right behind the 36-byte SSLRequest, in the same chunk.
      socket.pause();
      if (chunk.length > 36) socket.unshift(chunk.subarray(36));
      upgrade((secure) => {
        secure.once('data', () => {
          const error = Buffer.concat([
            Buffer.from([0xff]),
            u16(1045),
            Buffer.from('#28000Access denied', 'latin1'),
          ]);
          secure.end(packet(3, error));
        });
      });
    });
  });
}

function listen(
  certs: TestCertificates,
  onConnection: (socket: Socket, upgrade: (then: (secure: TLSSocket) => void) => void) => void,
): Promise<TlsFrontEnd> {
  const secureContext = createSecureContext({ cert: certs.certPem, key: certs.keyPem });
  const sockets = new Set<Socket>();
  let handshakes = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket, (then) => {
      const secure = new TLSSocket(socket, { isServer: true, secureContext });
      secure.on('error', () => socket.destroy());
      secure.once('secure', () => {
        handshakes++;
        then(secure);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || !address) return reject(new Error('no address'));
      resolve({
        port: address.port,
        get handshakes() {
          return handshakes;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16LE(value, 0);
  return buffer;
}

function packet(sequence: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header.writeUInt8(sequence, 3);
  return Buffer.concat([header, payload]);
}
