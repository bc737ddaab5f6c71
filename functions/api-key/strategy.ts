import type { FinishInfo, RotationContext, RotationStrategy, SecretVersion } from '../rotation';
import { RotationError, Stage } from '../rotation';
import { API_KEY_KIND, ApiKeyProviderName } from './constants';
import { ApiKeyProviderError, GracePeriodActiveError } from './errors';
import type { ApiKeyProvider, KeyReference, ProviderContext } from './providers/provider';
import type { RevocationContext, Revocations } from './revocation';
import { type ApiKeySecret, buildApiKeySecret, parseApiKeySecret } from './secret';
import type { ApiKeySecretStore, SecretState } from './secret-state';

/** What the API key strategy is built from. */
export interface ApiKeyStrategyDependencies {
  readonly provider: ApiKeyProvider;
  readonly store: ApiKeySecretStore;
  readonly revocations: Revocations;
  /** Length of the keys the function generates. */
  readonly keyLength: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

/**
 * API key rotation over a provider, with a grace period.
 *
 * - createSecret: first revokes keys whose grace period is over (best effort: the scheduled sweep retries),
 *   then builds the new version. The key is generated here (`GetRandomPassword`, letters and digits) and
 *   issued in setSecret under the name `<prefix><token>`, so a retry finds it; a provider that generates
 *   keys itself issues here (a key a crashed or concurrent attempt issued under the same name is revoked by
 *   the sweep, since the version records another key id).
 * - setSecret: issues the key at the provider (idempotent). Never revokes anything: the current key stays.
 * - testSecret: the provider's check with the pending key; no side effects.
 * - finishSecret (after the core moved the labels): records the superseded key's revocation deadline, or
 *   with the emergency tag on the secret, revokes every older key at once and removes the tag.
 */
export class ApiKeyStrategy implements RotationStrategy {
  readonly kind = API_KEY_KIND;
  readonly name: string;
  readonly #deps: ApiKeyStrategyDependencies;

  constructor(deps: ApiKeyStrategyDependencies) {
    this.#deps = deps;
    this.name = deps.provider.name;
  }

  async createPending(context: RotationContext, current: SecretVersion): Promise<string> {
    const { provider, revocations, store } = this.#deps;
    const currentKey = this.#parse(context, current, Stage.CURRENT);
    const revocation = revocationContext(context);
    try {
      const report = await revocations.sweep(revocation, { emergency: false });
      if (report.failed.length > 0) {
        context.logger.warn('Some overdue keys could not be revoked; the sweep will retry', {
          failed: report.failed.length,
        });
      }
    } catch (error) {
      context.logger.warn('Could not revoke overdue keys before rotating; the sweep will retry', {
        errorName: error instanceof Error ? error.name : typeof error,
      });
    }
    const state = await store.load(context.secretArn);
    if (provider.name === ApiKeyProviderName.SELF_ISSUED && !state.emergency) this.#refuseDuringGrace(state);
    const name = revocations.keyName(state.name, context.token);
    const providerContext = revocation.provider;
    if (provider.generatesValue) {
      // A key issued under this name by an attempt that crashed (or runs concurrently) is left alone: the
      // sweep revokes every key under the name but the one the version records, once the version exists.
      const issued = await provider.issue(providerContext, {
        name,
        token: context.token,
        replaces: this.#reference(state, current.versionId, currentKey),
        secretArn: context.secretArn,
      });
      if (issued.value === undefined) {
        throw new ApiKeyProviderError(provider.name, 'issue a key', 'the provider returned no key');
      }
      context.redact(issued.value);
      context.logger.info('Issued the new key at the provider', { keyId: issued.keyId });
      return buildApiKeySecret(currentKey, {
        provider: provider.name,
        keyId: issued.keyId,
        apiKey: issued.value,
      });
    }
    const apiKey = await context.passwords.generate({
      length: this.#deps.keyLength,
      excludePunctuation: true,
    });
    return buildApiKeySecret(currentKey, {
      provider: provider.name,
      // A self-issued key's id is its version's id; other providers assign ids when setSecret issues.
      ...(provider.name === ApiKeyProviderName.SELF_ISSUED ? { keyId: context.token } : {}),
      apiKey,
    });
  }

  async set(context: RotationContext, pending: SecretVersion): Promise<void> {
    const { provider, store, revocations } = this.#deps;
    const pendingKey = this.#parse(context, pending, Stage.PENDING);
    if (provider.generatesValue) {
      context.logger.info('The provider issued the key in createSecret; nothing to set');
      return;
    }
    const current = await context.secrets.current();
    const currentKey = this.#parse(context, current, Stage.CURRENT);
    const state = await store.load(context.secretArn);
    const issued = await provider.issue(revocationContext(context).provider, {
      name: revocations.keyName(state.name, pending.versionId),
      token: context.token,
      value: pendingKey.apiKey,
      replaces: this.#reference(state, current.versionId, currentKey),
      secretArn: context.secretArn,
    });
    context.logger.info('The new key is issued at the provider; the current key stays valid', {
      keyId: issued.keyId,
    });
  }

  async test(context: RotationContext, pending: SecretVersion): Promise<void> {
    const { provider, store } = this.#deps;
    const pendingKey = this.#parse(context, pending, Stage.PENDING);
    const current = await context.secrets.current();
    const currentKey = this.#parse(context, current, Stage.CURRENT);
    const state = await store.load(context.secretArn);
    const replaces = this.#reference(state, current.versionId, currentKey);
    // PROTOCOL "RotateImmediately=false": Secrets Manager runs testSecret alone against a temporary AWSPENDING
    // (moto fills it with a copy of AWSCURRENT). That key was issued for AWSCURRENT's version, not under a
    // name made from the temporary token: check it as the current key it is.
    const copyOfCurrent = pendingKey.apiKey === currentKey.apiKey;
    const key = copyOfCurrent ? replaces : this.#reference(state, pending.versionId, pendingKey);
    await provider.check(revocationContext(context).provider, { ...key, value: pendingKey.apiKey }, replaces);
    context.logger.info(
      copyOfCurrent
        ? 'AWSPENDING holds the current key (a configuration test); the provider accepts it'
        : 'The provider accepts the pending key',
    );
  }

  async afterFinish(context: RotationContext, info: FinishInfo): Promise<void> {
    const { store, revocations } = this.#deps;
    const revocation = revocationContext(context);
    const state = await store.load(context.secretArn);
    const previous = info.previous;
    if (previous && previous.versionId !== info.current.versionId && !state.emergency) {
      const keyId = lenientKeyId(previous.secretString);
      await revocations.schedule(revocation, state, previous.versionId, keyId);
    }
    if (state.emergency) {
      context.logger.warn('Emergency tag set: revoking every key but the current one now');
      const report = await revocations.sweep(revocation, { emergency: true });
      if (report.failed.length > 0) {
        throw new RotationError(
          `Emergency revocation incomplete for ${report.failed.length} key(s); finishSecret will be retried`,
        );
      }
      await store.clearEmergency(context.secretArn);
    }
  }

  #parse(context: RotationContext, version: SecretVersion, stage: string): ApiKeySecret {
    return parseApiKeySecret(context.secretArn, stage, version.secretString, this.#deps.provider.name);
  }

  #reference(state: SecretState, versionId: string, key: ApiKeySecret): KeyReference {
    return {
      name: this.#deps.revocations.keyName(state.name, versionId),
      ...(key.keyId !== undefined ? { keyId: key.keyId } : {}),
    };
  }

  #refuseDuringGrace(state: SecretState): void {
    const previous = state.previous;
    if (!previous) return;
    const entry = state.scheduled.find((s) => s.versionId === previous);
    if (entry && !Number.isNaN(entry.revokeAfter) && entry.revokeAfter > this.#deps.now()) {
      throw new GracePeriodActiveError(state.arn, previous, entry.raw);
    }
  }
}

/** The revocation context of a rotation step: the core's logger, redaction and follow-up events. */
export function revocationContext(context: RotationContext): RevocationContext {
  const secrets = new Map<string, Promise<string>>();
  const provider: ProviderContext = {
    logger: context.logger,
    redact: (value) => context.redact(value),
    readSecret: (secretId) => {
      let read = secrets.get(secretId);
      if (!read) {
        read = context.secrets.other(secretId).then((version) => version.secretString);
        secrets.set(secretId, read);
      }
      return read;
    },
  };
  return {
    secretArn: context.secretArn,
    logger: context.logger,
    provider,
    publish: (action, detail) => context.publishFollowUp(action, detail),
  };
}

function lenientKeyId(secretString: string): string | undefined {
  try {
    const keyId = (JSON.parse(secretString) as { keyId?: unknown }).keyId;
    return typeof keyId === 'string' && keyId !== '' ? keyId : undefined;
  } catch {
    return undefined;
  }
}
