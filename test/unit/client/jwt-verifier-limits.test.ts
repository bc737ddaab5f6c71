import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { JwksUnavailableError, JwtVerifier } from '../../../client/jwt';

/** A loopback server answering every request with `body`. */
async function serve(
  body: () => string,
  headers: Record<string, string> = {},
): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(body());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, server };
}

async function signedToken() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  return { jwk, token };
}

describe('JwtVerifier transport and limits (issue 16, finding 11)', () => {
  it.each([
    'http://jwks.example.com/.well-known/jwks.json',
    'http://10.0.0.5/jwks.json',
    'ftp://jwks.example.com/jwks.json',
    'not a url',
  ])('refuses the jwksUrl %s, naming the option: keys must come over https', (jwksUrl) => {
    expect(() => new JwtVerifier({ jwksUrl })).toThrow(/jwksUrl/);
  });

  it.each([
    'https://jwks.example.com/.well-known/jwks.json',
    'http://localhost:8080/jwks.json',
    'http://127.0.0.1:8080/jwks.json',
    'http://[::1]:8080/jwks.json',
  ])('accepts the jwksUrl %s (https, or loopback over http)', (jwksUrl) => {
    expect(() => new JwtVerifier({ jwksUrl })).not.toThrow();
  });

  it('refuses a JWKS response larger than maxResponseBytes, and verifies with one within it', async () => {
    const { jwk, token } = await signedToken();
    const padding = 'x'.repeat(2_000);
    const { url, server } = await serve(() => JSON.stringify({ keys: [jwk], padding }));
    try {
      const small = new JwtVerifier({ jwksUrl: url, maxResponseBytes: 1_000 });
      await expect(small.verify(token)).rejects.toThrow(JwksUnavailableError);
      await expect(small.verify(token)).rejects.toThrow(/larger than maxResponseBytes \(1000\)/);
      const enough = new JwtVerifier({ jwksUrl: url, maxResponseBytes: 10_000 });
      await expect(enough.verify(token)).resolves.toMatchObject({ protectedHeader: { kid: 'k1' } });
    } finally {
      server.close();
    }
  });

  it('refuses a response that streams past the limit without declaring its length', async () => {
    const { token } = await signedToken();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.write('{"keys":[');
      res.write(' '.repeat(100_000));
      res.end(']}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      await expect(new JwtVerifier({ jwksUrl: url }).verify(token)).rejects.toThrow(
        /maxResponseBytes \(65536\)/,
      );
    } finally {
      server.close();
    }
  });

  it('refuses a JWKS with more keys than maxKeys', async () => {
    const { jwk, token } = await signedToken();
    const keys = Array.from({ length: 25 }, (_, i) => ({ ...jwk, kid: `k${i + 1}` }));
    const verifier = new JwtVerifier({ fetchJwks: async () => ({ keys }) });
    await expect(verifier.verify(token)).rejects.toThrow(/25 keys, more than maxKeys \(20\)/);
    const roomy = new JwtVerifier({ fetchJwks: async () => ({ keys }), maxKeys: 30 });
    await expect(roomy.verify(token)).resolves.toBeDefined();
  });
});
