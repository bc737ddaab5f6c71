import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { JwtAlgorithm, type RsaModulusLength } from './config';
import type { NewKey } from './key-set';
import { PRIVATE_JWK_MEMBERS } from './key-set';

/** Options of a key generation. */
export interface KeyGenerationOptions {
  /** Modulus length of RS256 keys. */
  readonly rsaModulusLength: RsaModulusLength;
}

/** Generates a signing key pair; injectable so tests can count or fail generations. */
export type KeyGenerator = (alg: JwtAlgorithm, options: KeyGenerationOptions) => Promise<NewKey>;

/**
 * Generates a key pair with WebCrypto through jose and returns its private JWK with `kid` (the RFC 7638
 * thumbprint), `alg` and `use: sig`. The caller registers the private members for redaction before anything
 * else can see them.
 */
export const generateSigningKey: KeyGenerator = async (alg, options) => {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === JwtAlgorithm.RS256 ? { modulusLength: options.rsaModulusLength } : {}),
    ...(alg === JwtAlgorithm.EDDSA ? { crv: 'Ed25519' } : {}),
  });
  const exported = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(exported);
  return { kid, alg, jwk: { ...exported, kid, alg, use: 'sig' } };
};

/**
 * Every string of a JWK that must never be logged: each private member, and the JWK's JSON as a whole (it
 * holds them all). Public members and `kid` are not secret.
 */
export function privateStrings(jwk: JWK): string[] {
  const values: string[] = [];
  for (const member of PRIVATE_JWK_MEMBERS) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value === 'string') values.push(value);
  }
  if (values.length > 0) values.push(JSON.stringify(jwk));
  return values;
}
