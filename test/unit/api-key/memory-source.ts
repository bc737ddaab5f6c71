import type { CachedSecret, SecretChangeListener, SecretValueSource } from '../../../client/types';

/**
 * A secret source held in memory, with a cache in front like `SecretCache`: `current` is served from the
 * cache until `invalidate`, `stage` always reads the "service". Counts reads.
 */
export class MemorySource implements SecretValueSource {
  readonly versions = new Map<string, { value: Record<string, unknown>; stages: Set<string> }>();
  readonly #listeners = new Set<SecretChangeListener>();
  #cached: CachedSecret | undefined;
  reads = 0;
  failing = false;
  #next = 0;

  /** Puts a version holding `apiKey`, moving `stage` to it (AWSCURRENT moves AWSPREVIOUS as the service does). */
  put(apiKey: string, stage = 'AWSCURRENT', extra: Record<string, unknown> = {}): string {
    const versionId = `v${++this.#next}`;
    this.versions.set(versionId, { value: { apiKey, ...extra }, stages: new Set() });
    this.move(stage, versionId);
    return versionId;
  }

  move(stage: string, versionId: string): void {
    const holder = this.holder(stage);
    if (stage === 'AWSCURRENT' && holder && holder !== versionId) this.move('AWSPREVIOUS', holder);
    for (const version of this.versions.values()) version.stages.delete(stage);
    this.versions.get(versionId)?.stages.add(stage);
  }

  remove(stage: string): void {
    for (const version of this.versions.values()) version.stages.delete(stage);
  }

  holder(stage: string): string | undefined {
    return [...this.versions].find(([, v]) => v.stages.has(stage))?.[0];
  }

  async current(secretId: string): Promise<CachedSecret> {
    if (this.#cached) return this.#cached;
    const secret = await this.stage(secretId, 'AWSCURRENT');
    if (!secret) throw new Error('no AWSCURRENT');
    this.#cached = secret;
    return secret;
  }

  async stage(secretId: string, stage: string): Promise<CachedSecret | undefined> {
    this.reads++;
    await Promise.resolve();
    if (this.failing) throw new Error('Secrets Manager unavailable');
    const versionId = this.holder(stage);
    const version = versionId ? this.versions.get(versionId) : undefined;
    if (!versionId || !version) return undefined;
    return { secretId, versionId, secretString: JSON.stringify(version.value), stages: [...version.stages] };
  }

  invalidate(secretId: string): void {
    this.#cached = undefined;
    for (const listener of this.#listeners) listener(secretId);
  }

  onChange(listener: SecretChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
