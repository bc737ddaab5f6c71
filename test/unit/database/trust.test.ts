import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { verifiedTls } from '../../../functions/database/engines/trust';

const commonName = (pem: string) =>
  new X509Certificate(pem).subject.split('\n').find((line) => line.startsWith('CN=')) ?? '';

describe('TLS trust for database connections', () => {
  it('always verifies the server certificate', () => {
    expect(verifiedTls().rejectUnauthorized).toBe(true);
  });

  it("trusts the current Amazon RDS root CAs shipped with the function, and Node's own roots", () => {
    const { ca } = verifiedTls();
    const names = ca.map(commonName);
    // the 2024 generation of RDS roots (rds-ca-rsa2048-g1 and its siblings), for every region
    expect(names).toContain('CN=Amazon RDS us-east-1 Root CA RSA2048 G1');
    expect(names).toContain('CN=Amazon RDS eu-west-1 Root CA ECC384 G1');
    expect(names).toContain('CN=Amazon RDS us-west-2 Root CA RSA4096 G1');
    // giving `ca` replaces Node's roots: they must be listed too, or public CAs would stop working
    for (const root of rootCertificates) expect(ca).toContain(root);
  });

  it('adds the PEM of DB_CA_BUNDLE_PATH to the shipped CAs instead of replacing them', () => {
    const extra = '-----BEGIN CERTIFICATE-----\nprivate CA\n-----END CERTIFICATE-----\n';
    const { ca } = verifiedTls(extra);
    expect(ca.at(-1)).toBe(extra);
    expect(ca.length).toBe(verifiedTls().ca.length + 1);
    expect(verifiedTls().ca).not.toContain(extra);
  });
});
