import type { EngineFamily } from '../secret';
import type { ConnectionTarget, DatabaseEngine, DatabaseSession } from './engine';
import { fitsUsername, truncateUsername, USERNAME_LIMITS } from './naming';

/**
 * An engine whose driver is loaded on the first connection. A secret names one engine, so a function
 * rotating PostgreSQL never loads `mysql2` at cold start, and the other way round; naming rules are
 * answered without loading anything.
 */
export class LazyEngine implements DatabaseEngine {
  readonly maxUsernameLength: number;
  #engine: Promise<DatabaseEngine> | undefined;

  constructor(
    readonly family: EngineFamily,
    private readonly load: () => Promise<DatabaseEngine>,
  ) {
    this.maxUsernameLength = USERNAME_LIMITS[family].max;
  }

  fits(name: string): boolean {
    return fitsUsername(this.family, name);
  }

  truncate(name: string, reserve: number): string {
    return truncateUsername(this.family, name, reserve);
  }

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    this.#engine ??= this.load().catch((error: unknown) => {
      this.#engine = undefined; // a failed load is tried again on the next connection
      throw error;
    });
    return (await this.#engine).connect(target);
  }
}
