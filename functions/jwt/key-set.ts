import { calculateJwkThumbprint, type JWK } from 'jose';
import { InvalidSecretValueError, RotationError } from '../rotation';
import { JwtAlgorithm } from './config';
import { NextKeyNotReadyError, type RotationLocation } from './errors';

/**
 * The JWT signing key set kept in the secret, and its transitions. Pure: no clock, no I/O, no randomness;
 * times and new keys come in as arguments, so every rule here is checked by plain unit tests.
 *
 * Key states: `next` is published but does not sign yet; `current` signs; `previous` no longer signs and
 * stays published until every token it can have signed has expired. A rotation moves previous ← current,
 * current ← next, and adds a new next.
 */

/** The states a key goes through. */
export const KeyState = {
  NEXT: 'next',
  CURRENT: 'current',
  PREVIOUS: 'previous',
} as const;
export type KeyState = (typeof KeyState)[keyof typeof KeyState];

/** `format` member of the secret value. */
export const KEY_SET_FORMAT = 'jwt-signing-key-set';
/** `version` member of the secret value. */
export const KEY_SET_VERSION = 1;
/** Secrets Manager's limit on a SecretString, in bytes. */
export const MAX_SECRET_BYTES = 65_536;

/** JWK members that are private key material; none may ever appear in a published document. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The key type and curve each algorithm uses, and the public members of its JWK. */
const KEY_SHAPE = {
  [JwtAlgorithm.RS256]: { kty: 'RSA', crv: undefined, members: ['n', 'e'] },
  [JwtAlgorithm.ES256]: { kty: 'EC', crv: 'P-256', members: ['crv', 'x', 'y'] },
  [JwtAlgorithm.EDDSA]: { kty: 'OKP', crv: 'Ed25519', members: ['crv', 'x'] },
} as const;

/** The private members a signing key of each type must carry. */
const REQUIRED_PRIVATE = {
  RSA: ['d', 'p', 'q', 'dp', 'dq', 'qi'],
  EC: ['d'],
  OKP: ['d'],
} as const;

/** The rules the key set was built under, recorded in the secret for signers and auditors. */
export interface KeySetPolicy {
  /** Longest lifetime (`exp - iat`) of a token signed with these keys. Signers refuse longer tokens. */
  readonly maxTokenLifetimeSeconds: number;
  /**
   * Longest time a verifier can go on seeing an older JWKS (its cache plus any CDN in front). The next key is
   * published at least this long before it signs; signers pick up a new current key within it.
   */
  readonly jwksMaxStalenessSeconds: number;
}

/** One key of the set. Timestamps are ISO 8601, in UTC. */
export interface StoredKey {
  /** RFC 7638 thumbprint (SHA-256) of the public key. */
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly state: KeyState;
  /** When the key was generated. */
  readonly createdAt: string;
  /**
   * When the key was first seen in the published JWKS, as recorded by the publication that added it; set when
   * the key becomes current. Absent on the very first current key (the bootstrap, published with it).
   */
  readonly publishedAt?: string;
  /** When the rotation that made it current started. */
  readonly activatedAt?: string;
  /** When the rotation that retired it started. */
  readonly retiredAt?: string;
  /**
   * When AWSCURRENT stopped naming it as the signing key, no earlier than the finish of the rotation that
   * retired it. Set by the following rotation (from the publication record, or that rotation's start).
   * Retention is measured from here.
   */
  readonly signingEndedAt?: string;
  /** The JWK: private for next and current keys, public only for previous keys. */
  readonly jwk: JWK;
}

/** The secret value: a key set with exactly one next and one current key, and any previous keys. */
export interface KeySet {
  readonly format: typeof KEY_SET_FORMAT;
  readonly version: typeof KEY_SET_VERSION;
  /** Written by every rotation; absent only in a value written by hand. */
  readonly policy?: KeySetPolicy;
  readonly keys: readonly StoredKey[];
}

/** A freshly generated key pair, as the generator hands it over. */
export interface NewKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  /** The private JWK (with `kid`, `alg` and `use`). */
  readonly jwk: JWK;
}

/** A public JWK as published: public members plus `kid`, `alg`, `use`. */
export type PublicJwk = Readonly<Record<string, string>>;

/** The published document. */
export interface JwksDocument {
  readonly keys: readonly PublicJwk[];
}

/** Where a value being parsed comes from, for error messages. */
export interface ValueLocation {
  readonly secretArn: string;
  /** The stage or version the value was read from, e.g. `AWSCURRENT`. */
  readonly stage: string;
}

/** What a rotation knows besides the key set: the time, the new key, and what the published JWKS records. */
export interface RotateInput {
  /** Milliseconds since the epoch. */
  readonly now: number;
  readonly newKey: NewKey;
  /**
   * When the next key was first seen in the published JWKS (milliseconds since the epoch), or `undefined`
   * when the published JWKS does not have it.
   */
  readonly nextPublishedAt: number | undefined;
  /** Which key the published JWKS records as AWSCURRENT's signing key, and since when. */
  readonly signingSince?: { readonly kid: string; readonly at: number };
  readonly policy: KeySetPolicy;
}

/**
 * Reads a secret value: a key set, or `undefined` for a bootstrap value (`{}`, or an object whose `keys` is
 * empty and that has no member but `format`, `version`, `policy` and `keys`).
 *
 * @throws InvalidSecretValueError naming the field, never quoting a value.
 */
export function parseKeySetOrBootstrap(secretString: string, where: ValueLocation): KeySet | undefined {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch (error) {
    // No cause: V8's SyntaxError quotes the text around the fault, which here is private key material.
    const position = error instanceof Error ? /at position (\d+)/.exec(error.message)?.[1] : undefined;
    throw invalid(where, '(value)', position ? `is not JSON (at position ${position})` : 'is not JSON');
  }
  if (!isRecord(value)) throw invalid(where, '(value)', 'must be a JSON object');
  const unknownMembers = Object.keys(value).filter(
    (k) => !['format', 'version', 'policy', 'keys'].includes(k),
  );
  if (value.keys === undefined || (Array.isArray(value.keys) && value.keys.length === 0)) {
    if (unknownMembers.length > 0) {
      throw invalid(
        where,
        'keys',
        `is missing or empty, and the value has other members (${unknownMembers.join(', ')}): not a bootstrap value`,
      );
    }
    return undefined;
  }
  if (value.format !== undefined && value.format !== KEY_SET_FORMAT) {
    throw invalid(where, 'format', `must be '${KEY_SET_FORMAT}'`);
  }
  if (value.version !== undefined && value.version !== KEY_SET_VERSION) {
    throw invalid(where, 'version', `must be ${KEY_SET_VERSION}`);
  }
  if (!Array.isArray(value.keys)) throw invalid(where, 'keys', 'must be an array');
  const keys = value.keys.map((raw, index) => parseKey(raw, index, where));
  const kids = new Set<string>();
  for (const [index, key] of keys.entries()) {
    if (kids.has(key.kid)) throw invalid(where, `keys[${index}].kid`, `repeats kid ${key.kid}`);
    kids.add(key.kid);
  }
  for (const state of [KeyState.CURRENT, KeyState.NEXT]) {
    const count = keys.filter((k) => k.state === state).length;
    if (count !== 1) throw invalid(where, 'keys', `must hold exactly one ${state} key, found ${count}`);
  }
  return {
    format: KEY_SET_FORMAT,
    version: KEY_SET_VERSION,
    ...(value.policy !== undefined ? { policy: parsePolicy(value.policy, where) } : {}),
    keys,
  };
}

/** Reads a secret value that must be a key set (a pending version is never a bootstrap value). */
export function parseKeySet(secretString: string, where: ValueLocation): KeySet {
  const set = parseKeySetOrBootstrap(secretString, where);
  if (!set) throw invalid(where, 'keys', 'is empty: a key set is required here');
  return set;
}

/**
 * Checks that every `kid` is the RFC 7638 thumbprint of its key, so a kid can never name two keys.
 * @throws InvalidSecretValueError naming the key.
 */
export async function assertKidsAreThumbprints(set: KeySet, where: ValueLocation): Promise<void> {
  for (const [index, key] of set.keys.entries()) {
    if ((await calculateJwkThumbprint(key.jwk)) !== key.kid) {
      throw invalid(where, `keys[${index}].kid`, 'is not the RFC 7638 thumbprint of its jwk');
    }
  }
}

/**
 * The first key set, built from a bootstrap value: a current key that signs at once and a next key.
 * The current key is published with it by the same rotation's setSecret; no verifier can hold an older JWKS of
 * this set, so the publish-ahead rule does not apply to it.
 */
export function bootstrapKeySet(input: {
  readonly now: number;
  readonly current: NewKey;
  readonly next: NewKey;
  readonly policy: KeySetPolicy;
}): KeySet {
  const now = iso(input.now);
  return {
    format: KEY_SET_FORMAT,
    version: KEY_SET_VERSION,
    policy: input.policy,
    keys: [
      fromNewKey(input.next, KeyState.NEXT, now),
      ordered({ ...fromNewKey(input.current, KeyState.CURRENT, now), activatedAt: now }),
    ],
  };
}

/**
 * One rotation: previous ← current, current ← next, next ← the new key; previous keys whose signing ended
 * more than `maxTokenLifetimeSeconds + jwksMaxStalenessSeconds` ago are dropped.
 *
 * @throws NextKeyNotReadyError when the next key has not been published for `jwksMaxStalenessSeconds` yet
 *   (or is not published at all): promoting it would let it sign tokens that verifiers holding an older JWKS
 *   reject.
 */
export function rotateKeySet(set: KeySet, input: RotateInput, location: RotationLocation): KeySet {
  const next = nextKey(set);
  const current = signingKey(set);
  const nextPublishedAt = assertNextKeyReady(next, input.nextPublishedAt, input.now, input.policy, location);
  const now = iso(input.now);
  const retentionMs = (input.policy.maxTokenLifetimeSeconds + input.policy.jwksMaxStalenessSeconds) * 1000;
  const confirmedEnd =
    input.signingSince && input.signingSince.kid === current.kid ? input.signingSince.at : input.now;
  const previous: StoredKey[] = [];
  for (const key of set.keys.filter((k) => k.state === KeyState.PREVIOUS)) {
    // A key retired by the rotation before this one: that rotation has finished, so its signing ended by the
    // switch the publication record saw, or at the latest now.
    const signingEndedAt =
      key.signingEndedAt ?? iso(Math.max(confirmedEnd, Date.parse(key.retiredAt ?? now)));
    if (input.now - Date.parse(signingEndedAt) < retentionMs)
      previous.push(ordered({ ...key, signingEndedAt }));
  }
  return {
    format: KEY_SET_FORMAT,
    version: KEY_SET_VERSION,
    policy: input.policy,
    keys: [
      fromNewKey(input.newKey, KeyState.NEXT, now),
      ordered({ ...next, state: KeyState.CURRENT, publishedAt: iso(nextPublishedAt), activatedAt: now }),
      ordered({
        ...withoutSigningTimes(current),
        state: KeyState.PREVIOUS,
        retiredAt: now,
        jwk: publicMembers(current.jwk),
      }),
      ...previous,
    ],
  };
}

/**
 * The publish-ahead rule: the next key may start signing only when it has been published for at least
 * `jwksMaxStalenessSeconds`, so that no verifier can still hold a JWKS without it. Returns its publication time.
 *
 * @throws NextKeyNotReadyError when it is younger, or not published at all (`publishedAt` undefined).
 */
export function assertNextKeyReady(
  next: Pick<StoredKey, 'kid'>,
  publishedAt: number | undefined,
  now: number,
  policy: KeySetPolicy,
  location: RotationLocation,
): number {
  const requiredSeconds = policy.jwksMaxStalenessSeconds;
  if (publishedAt === undefined) throw new NextKeyNotReadyError(location, next.kid, 0, requiredSeconds, true);
  const publishedSecondsAgo = Math.floor((now - publishedAt) / 1000);
  if (publishedSecondsAgo < requiredSeconds) {
    throw new NextKeyNotReadyError(
      location,
      next.kid,
      Math.max(0, publishedSecondsAgo),
      requiredSeconds,
      false,
    );
  }
  return publishedAt;
}

/** The key that signs. */
export function signingKey(set: KeySet): StoredKey {
  const key = set.keys.find((k) => k.state === KeyState.CURRENT);
  if (!key) throw new RotationError('The key set has no current key'); // parsing guarantees one
  return key;
}

/** The key that signs after the next rotation. */
export function nextKey(set: KeySet): StoredKey {
  const key = set.keys.find((k) => k.state === KeyState.NEXT);
  if (!key) throw new RotationError('The key set has no next key'); // parsing guarantees one
  return key;
}

/** The published form of a key: its public members, `kid`, `alg` and `use: sig`, nothing else. */
export function toPublicJwk(key: Pick<StoredKey, 'kid' | 'alg' | 'jwk'>): PublicJwk {
  return { ...(publicMembers(key.jwk) as PublicJwk), kid: key.kid, alg: key.alg, use: 'sig' };
}

/**
 * The JWKS verifiers need while the given versions are in use: every key of every set (next, current and
 * previous), each kid once, sorted by kid so the same keys always give the same bytes.
 */
export function buildJwks(sets: ReadonlyArray<KeySet | undefined>): JwksDocument {
  const byKid = new Map<string, PublicJwk>();
  for (const set of sets) {
    for (const key of set?.keys ?? []) if (!byKid.has(key.kid)) byKid.set(key.kid, toPublicJwk(key));
  }
  return { keys: [...byKid.values()].sort((a, b) => compare(a.kid ?? '', b.kid ?? '')) };
}

/** The document's bytes as published. */
export function serializeJwks(document: JwksDocument): string {
  return JSON.stringify(document);
}

/** The secret value's string. */
export function serializeKeySet(set: KeySet): string {
  return JSON.stringify(set);
}

/**
 * Problems of a published document, each naming the member or kid and never quoting a key value: not a JWKS,
 * a key without a kid, a repeated kid, private members, a required kid missing. Empty when it is sound.
 */
export function checkJwks(document: unknown, requiredKids: readonly string[]): string[] {
  if (!isRecord(document) || !Array.isArray(document.keys)) return ['is not a JWK Set (no "keys" array)'];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [index, key] of document.keys.entries()) {
    if (!isRecord(key) || typeof key.kid !== 'string' || key.kid === '') {
      problems.push(`has a key without a kid at keys[${index}]`);
      continue;
    }
    if (seen.has(key.kid)) problems.push(`repeats kid ${key.kid}`);
    seen.add(key.kid);
    const leaked = PRIVATE_JWK_MEMBERS.filter((m) => m in key);
    if (leaked.length > 0) problems.push(`has private members (${leaked.join(', ')}) in key ${key.kid}`);
  }
  for (const kid of requiredKids) if (!seen.has(kid)) problems.push(`lacks key ${kid}`);
  return problems;
}

/** ISO 8601 form of a time in milliseconds. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function fromNewKey(key: NewKey, state: KeyState, now: string): StoredKey {
  return { kid: key.kid, alg: key.alg, state, createdAt: now, jwk: key.jwk };
}

/** The key with its members in one order (the JWK last), so the stored JSON reads the same every time. */
function ordered(key: StoredKey): StoredKey {
  const { kid, alg, state, createdAt, publishedAt, activatedAt, retiredAt, signingEndedAt, jwk } = key;
  return {
    kid,
    alg,
    state,
    createdAt,
    ...(publishedAt !== undefined ? { publishedAt } : {}),
    ...(activatedAt !== undefined ? { activatedAt } : {}),
    ...(retiredAt !== undefined ? { retiredAt } : {}),
    ...(signingEndedAt !== undefined ? { signingEndedAt } : {}),
    jwk,
  };
}

function withoutSigningTimes(key: StoredKey): StoredKey {
  const { signingEndedAt: _ended, retiredAt: _retired, ...rest } = key;
  return rest;
}

/** The public members of a JWK (whitelisted by key type) with its kid, alg and use if present. */
function publicMembers(jwk: JWK): JWK {
  const shape = Object.values(KEY_SHAPE).find((s) => s.kty === jwk.kty);
  const out: Record<string, string> = { kty: String(jwk.kty) };
  for (const member of shape?.members ?? []) {
    const value = (jwk as Record<string, unknown>)[member];
    if (typeof value === 'string') out[member] = value;
  }
  for (const member of ['kid', 'alg', 'use'] as const)
    if (typeof jwk[member] === 'string') out[member] = jwk[member];
  return out as JWK;
}

function parseKey(raw: unknown, index: number, where: ValueLocation): StoredKey {
  const at = `keys[${index}]`;
  if (!isRecord(raw)) throw invalid(where, at, 'must be an object');
  if (typeof raw.kid !== 'string' || raw.kid === '')
    throw invalid(where, `${at}.kid`, 'must be a non-empty string');
  if (!Object.values(KeyState).includes(raw.state as KeyState)) {
    throw invalid(where, `${at}.state`, `must be one of ${Object.values(KeyState).join(', ')}`);
  }
  if (!Object.values(JwtAlgorithm).includes(raw.alg as JwtAlgorithm)) {
    throw invalid(where, `${at}.alg`, `must be one of ${Object.values(JwtAlgorithm).join(', ')}`);
  }
  const state = raw.state as KeyState;
  const alg = raw.alg as JwtAlgorithm;
  for (const field of ['createdAt', 'publishedAt', 'activatedAt', 'retiredAt', 'signingEndedAt'] as const) {
    const value = raw[field];
    const required =
      field === 'createdAt' ||
      (field === 'activatedAt' && state !== KeyState.NEXT) ||
      (field === 'retiredAt' && state === KeyState.PREVIOUS);
    if (value === undefined && !required) continue;
    if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) {
      throw invalid(where, `${at}.${field}`, 'must be an ISO 8601 timestamp');
    }
  }
  const jwk = raw.jwk;
  if (!isRecord(jwk)) throw invalid(where, `${at}.jwk`, 'must be an object');
  const shape = KEY_SHAPE[alg];
  if (jwk.kty !== shape.kty) throw invalid(where, `${at}.jwk.kty`, `must be '${shape.kty}' for ${alg}`);
  if (shape.crv !== undefined && jwk.crv !== shape.crv) {
    throw invalid(where, `${at}.jwk.crv`, `must be '${shape.crv}' for ${alg}`);
  }
  for (const member of shape.members) {
    if (typeof jwk[member] !== 'string' || jwk[member] === '') {
      throw invalid(where, `${at}.jwk.${member}`, 'must be a non-empty string');
    }
  }
  if (alg === JwtAlgorithm.RS256 && modulusBits(String(jwk.n)) < 2048) {
    throw invalid(where, `${at}.jwk.n`, 'must be an RSA modulus of at least 2048 bits');
  }
  if (jwk.kid !== undefined && jwk.kid !== raw.kid) throw invalid(where, `${at}.jwk.kid`, 'must equal kid');
  if (state === KeyState.PREVIOUS) {
    const leaked = PRIVATE_JWK_MEMBERS.filter((m) => m in jwk);
    if (leaked.length > 0) {
      throw invalid(where, `${at}.jwk`, `of a previous key must be public only, has ${leaked.join(', ')}`);
    }
  } else {
    for (const member of REQUIRED_PRIVATE[shape.kty]) {
      if (typeof jwk[member] !== 'string' || jwk[member] === '') {
        throw invalid(where, `${at}.jwk.${member}`, `must be present: a ${state} key signs or will sign`);
      }
    }
  }
  return {
    kid: raw.kid,
    alg,
    state,
    createdAt: raw.createdAt as string,
    ...(typeof raw.publishedAt === 'string' ? { publishedAt: raw.publishedAt } : {}),
    ...(typeof raw.activatedAt === 'string' ? { activatedAt: raw.activatedAt } : {}),
    ...(typeof raw.retiredAt === 'string' ? { retiredAt: raw.retiredAt } : {}),
    ...(typeof raw.signingEndedAt === 'string' ? { signingEndedAt: raw.signingEndedAt } : {}),
    jwk: jwk as JWK,
  };
}

function parsePolicy(raw: unknown, where: ValueLocation): KeySetPolicy {
  // The function's configuration is what counts for the next rotation; a stored policy is only checked for shape.
  if (!isRecord(raw)) throw invalid(where, 'policy', 'must be an object');
  for (const field of ['maxTokenLifetimeSeconds', 'jwksMaxStalenessSeconds'] as const) {
    const value = raw[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(where, `policy.${field}`, 'must be a non-negative integer');
    }
  }
  return {
    maxTokenLifetimeSeconds: raw.maxTokenLifetimeSeconds as number,
    jwksMaxStalenessSeconds: raw.jwksMaxStalenessSeconds as number,
  };
}

function modulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let bits = bytes.length * 8;
  for (const byte of bytes) {
    if (byte === 0) {
      bits -= 8;
      continue;
    }
    bits -= Math.clz32(byte) - 24;
    break;
  }
  return bits;
}

function invalid(where: ValueLocation, field: string, problem: string, options?: ErrorOptions) {
  return new InvalidSecretValueError(where.secretArn, where.stage, field, problem, options);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
