import { createLocalJWKSet, importJWK, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import {
  CurrentVersionMissingError,
  type FinishInfo,
  type RotationContext,
  type RotationStrategy,
  type SecretVersion,
  Stage,
} from '../rotation';
import { JWT_ROTATION_KIND, type JwtConfig, jwksMaxStalenessSeconds } from './config';
import { JwksVerificationError, KeySetTooLargeError, type RotationLocation } from './errors';
import { firstPublishedAt, JWKS_CONTENT_TYPE, type JwksPublisher } from './jwks-publisher';
import { type KeyGenerator, privateStrings } from './key-generator';
import {
  assertKidsAreThumbprints,
  assertNextKeyReady,
  bootstrapKeySet,
  buildJwks,
  checkJwks,
  type KeySet,
  type KeySetPolicy,
  KeyState,
  MAX_SECRET_BYTES,
  type NewKey,
  nextKey,
  parseKeySet,
  parseKeySetOrBootstrap,
  rotateKeySet,
  type StoredKey,
  serializeKeySet,
  signingKey,
} from './key-set';

/** Claims of the probe token testSecret signs; no verifier should ever accept it for anything. */
export const PROBE_TOKEN = {
  issuer: 'urn:secret-rotation:jwt:test-secret',
  audience: 'urn:secret-rotation:jwt:test-secret',
  lifetimeSeconds: 60,
} as const;

/** What the JWT strategy is built from. */
export interface JwtKeySetStrategyDependencies {
  readonly config: JwtConfig;
  readonly publisher: JwksPublisher;
  readonly generateKey: KeyGenerator;
  /** Milliseconds since the epoch: the clock every timing rule is measured with. */
  readonly now: () => number;
}

/**
 * Rotates a JWT signing key set (next → current → previous) and publishes its JWKS.
 *
 * - createSecret: from a bootstrap value, a current and a next key; otherwise previous ← current,
 *   current ← next, a new next key, and expired previous keys dropped. Refuses, before generating a key or
 *   writing the secret, when the next key has not been published for the staleness budget
 *   (`NextKeyNotReadyError`); when the published JWKS lacks the next key altogether, it first publishes
 *   AWSCURRENT's keys again, so that the clock starts.
 * - setSecret: publishes the keys of AWSCURRENT and AWSPENDING together, so verifiers accept tokens of both.
 * - testSecret: signs a probe token with the pending signing key and verifies it against the published
 *   document as a verifier fetches it; checks the document's invariants. Writes nothing.
 * - afterFinish: publishes the keys AWSCURRENT (and a rotation in progress, if any) needs; on every retry.
 */
export class JwtKeySetStrategy implements RotationStrategy {
  readonly kind = JWT_ROTATION_KIND;
  readonly name: string;
  readonly #config: JwtConfig;
  readonly #publisher: JwksPublisher;
  readonly #generateKey: KeyGenerator;
  readonly #now: () => number;

  constructor(deps: JwtKeySetStrategyDependencies) {
    this.name = deps.config.strategy;
    this.#config = deps.config;
    this.#publisher = deps.publisher;
    this.#generateKey = deps.generateKey;
    this.#now = deps.now;
  }

  /** The policy new key sets record. */
  get policy(): KeySetPolicy {
    return {
      maxTokenLifetimeSeconds: this.#config.maxTokenLifetimeSeconds,
      jwksMaxStalenessSeconds: jwksMaxStalenessSeconds(this.#config),
    };
  }

  async createPending(context: RotationContext, current: SecretVersion): Promise<string> {
    const where = { secretArn: context.secretArn, stage: Stage.CURRENT };
    const set = parseKeySetOrBootstrap(current.secretString, where);
    const now = this.#now();
    let pending: KeySet;
    if (!set) {
      pending = bootstrapKeySet({
        now,
        current: await this.#generate(context),
        next: await this.#generate(context),
        policy: this.policy,
      });
      context.logger.info('AWSCURRENT is a bootstrap value: created the first current and next keys', {
        currentKid: signingKey(pending).kid,
        nextKid: nextKey(pending).kid,
      });
    } else {
      await assertKidsAreThumbprints(set, where);
      const published = await this.#publisher.readS3();
      const next = nextKey(set);
      const nextPublishedAt = firstPublishedAt(published, next.kid);
      if (nextPublishedAt === undefined) {
        // Heal what a lost or overwritten document broke: publish AWSCURRENT's keys again, and start the next
        // key's clock now. The rotation is refused below and succeeds on a retry one cache lifetime later.
        await this.#publisher.publish(buildJwks([set]), signingKey(set).kid, now);
        context.logger.warn('The next key was missing from the published JWKS; published it again', {
          nextKid: next.kid,
          location: this.#publisher.location,
        });
      }
      // Checked before a key is generated: a refused rotation costs nothing.
      assertNextKeyReady(next, nextPublishedAt, now, this.policy, location(context));
      pending = rotateKeySet(
        set,
        {
          now,
          newKey: await this.#generate(context),
          nextPublishedAt,
          ...(published?.record.signing ? { signingSince: published.record.signing } : {}),
          policy: this.policy,
        },
        location(context),
      );
      const kept = new Set(pending.keys.map((k) => k.kid));
      context.logger.info('Rotated the key set', {
        currentKid: signingKey(pending).kid,
        nextKid: nextKey(pending).kid,
        nextPublishedSecondsAgo: Math.floor((now - (nextPublishedAt ?? now)) / 1000),
        retiredKid: signingKey(set).kid,
        droppedKids: set.keys.filter((k) => !kept.has(k.kid)).map((k) => k.kid),
      });
    }
    const value = serializeKeySet(pending);
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_SECRET_BYTES) {
      throw new KeySetTooLargeError(location(context), bytes, pending.keys.length);
    }
    return value;
  }

  async set(context: RotationContext, pending: SecretVersion): Promise<void> {
    const current = await context.secrets.current();
    const currentSet = parseKeySetOrBootstrap(current.secretString, {
      secretArn: context.secretArn,
      stage: Stage.CURRENT,
    });
    const pendingSet = await this.#parsePending(context, pending);
    // Verifiers must accept tokens of both versions while the labels move: publish the union.
    const result = await this.#publisher.publish(
      buildJwks([pendingSet, currentSet]),
      currentSet ? signingKey(currentSet).kid : undefined,
      this.#now(),
    );
    context.logger.info(result.changed ? 'Published the JWKS' : 'The JWKS was already published', {
      written: result.written,
      kids: pendingSet.keys.map((k) => k.kid),
    });
  }

  async test(context: RotationContext, pending: SecretVersion): Promise<void> {
    const where = { secretArn: context.secretArn, stage: Stage.PENDING };
    if (
      parseKeySetOrBootstrap(pending.secretString, where) === undefined &&
      (await context.secrets.current()).secretString === pending.secretString
    ) {
      // PROTOCOL "RotateImmediately=false": testSecret alone, against a temporary AWSPENDING that copies
      // AWSCURRENT. A key set never rotated is still its bootstrap value: no key, nothing published yet. Prove
      // what can be proved without side effects (every JWKS location can be read) and pass. A bootstrap value
      // that is not AWSCURRENT's is refused below, as it would leave signers without a key.
      for (const source of this.#publisher.sources()) await source.read();
      context.logger.info('AWSPENDING is a bootstrap value (a key set never rotated): nothing to verify yet');
      return;
    }
    const pendingSet = await this.#parsePending(context, pending);
    const signing = signingKey(pendingSet);
    const now = this.#now();
    const token = await this.#probeToken(signing, now);
    // Tokens of the pending signing key, and of every key it retired, must verify.
    const required = pendingSet.keys.filter((k) => k.state !== KeyState.NEXT).map((k) => k.kid);
    for (const source of this.#publisher.sources()) {
      const published = await source.read();
      const problems = published
        ? await this.#problems(published, required, token, signing, now)
        : ['does not exist'];
      if (problems.length > 0) throw new JwksVerificationError(location(context), source.location, problems);
    }
    context.logger.info('The published JWKS verifies a token of the pending signing key', {
      signingKid: signing.kid,
    });
  }

  async afterFinish(context: RotationContext, info: FinishInfo): Promise<void> {
    const currentSet = parseKeySetOrBootstrap(info.current.secretString, {
      secretArn: context.secretArn,
      stage: Stage.CURRENT,
    });
    if (!currentSet) {
      context.logger.warn('AWSCURRENT is a bootstrap value: nothing to publish');
      return;
    }
    const inProgress = await this.#otherPending(context, info.current.versionId);
    const signingKid = signingKey(currentSet).kid;
    const result = await this.#publisher.publish(
      buildJwks([currentSet, inProgress]),
      signingKid,
      this.#now(),
    );
    context.logger.info(
      result.changed ? 'Republished the JWKS for AWSCURRENT' : 'The JWKS matches AWSCURRENT',
      {
        written: result.written,
        signingKid,
        replay: info.alreadyCurrent,
      },
    );
    if (result.changed) {
      await context.publishFollowUp('jwks-published', {
        location: this.#publisher.location,
        signingKid,
        kids: buildJwks([currentSet, inProgress]).keys.map((k) => k.kid),
      });
    }
  }

  async #problems(
    published: { location: string; document: unknown; contentType?: string; cacheControl?: string },
    required: readonly string[],
    token: string,
    signing: StoredKey,
    now: number,
  ): Promise<string[]> {
    if (published.document === undefined) return ['is not JSON'];
    const problems = checkJwks(published.document, required);
    if (published.location === this.#publisher.location) {
      if (published.contentType !== JWKS_CONTENT_TYPE) {
        problems.push(`has Content-Type '${published.contentType ?? ''}', not '${JWKS_CONTENT_TYPE}'`);
      }
      if (published.cacheControl !== this.#publisher.cacheControl) {
        // A longer max-age than the rotation assumes would break the publish-ahead rule.
        problems.push(
          `has Cache-Control '${published.cacheControl ?? ''}', not '${this.#publisher.cacheControl}'`,
        );
      }
    }
    if (problems.length > 0) return problems;
    try {
      await jwtVerify(token, createLocalJWKSet(published.document as JSONWebKeySet), {
        algorithms: [signing.alg],
        issuer: PROBE_TOKEN.issuer,
        audience: PROBE_TOKEN.audience,
        currentDate: new Date(now),
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      problems.push(
        `does not verify a token signed by the pending signing key ${signing.kid} (${typeof code === 'string' ? code : (error as Error).name})`,
      );
    }
    return problems;
  }

  async #probeToken(signing: StoredKey, now: number): Promise<string> {
    const key = await importJWK(signing.jwk, signing.alg);
    const issuedAt = Math.floor(now / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'JWT' })
      .setIssuer(PROBE_TOKEN.issuer)
      .setAudience(PROBE_TOKEN.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + PROBE_TOKEN.lifetimeSeconds)
      .sign(key);
  }

  async #parsePending(context: RotationContext, pending: SecretVersion): Promise<KeySet> {
    const where = { secretArn: context.secretArn, stage: Stage.PENDING };
    const set = parseKeySet(pending.secretString, where);
    await assertKidsAreThumbprints(set, where);
    return set;
  }

  /** The value of AWSPENDING when another rotation has started since this one finished. */
  async #otherPending(context: RotationContext, currentVersionId: string): Promise<KeySet | undefined> {
    let version: SecretVersion;
    try {
      version = await context.secrets.other(context.secretArn, Stage.PENDING);
    } catch (error) {
      if (error instanceof CurrentVersionMissingError) return undefined; // no AWSPENDING with a value
      throw error;
    }
    if (version.versionId === currentVersionId) return undefined;
    try {
      return parseKeySet(version.secretString, { secretArn: context.secretArn, stage: Stage.PENDING });
    } catch (error) {
      context.logger.warn('AWSPENDING of another rotation is not a key set; publishing AWSCURRENT only', {
        pendingVersionId: version.versionId,
        errorName: (error as Error).name,
      });
      return undefined;
    }
  }

  async #generate(context: RotationContext): Promise<NewKey> {
    const key = await this.#generateKey(this.#config.algorithm, {
      rsaModulusLength: this.#config.rsaModulusLength,
    });
    for (const value of privateStrings(key.jwk)) context.redact(value);
    return key;
  }
}

function location(context: RotationContext): RotationLocation {
  return { secretArn: context.secretArn, step: context.step, token: context.token };
}
