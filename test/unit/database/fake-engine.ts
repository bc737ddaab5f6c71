import {
  type ConnectionTarget,
  type DatabaseEngine,
  type DatabaseSession,
  type LiveSession,
  type PairRecord,
  PasswordForm,
  type UserPair,
} from '../../../functions/database/engines/engine';
import { DatabaseAuthenticationError, DatabaseUnavailableError } from '../../../functions/database/errors';

/** An in-memory database that records intents, for strategy unit tests. */
export class FakeEngine implements DatabaseEngine {
  readonly family = 'postgres' as const;
  readonly maxUsernameLength = 16;
  readonly users = new Map<string, string>();
  readonly members = new Map<string, string>();
  /** Pair records, by clone, as the master session writes them. */
  readonly pairs = new Map<string, PairRecord>();
  readonly intents: string[] = [];
  /** Every connection attempt: as whom, and whether over verified TLS. */
  readonly attempts: Array<{ username: string; ssl: boolean }> = [];
  /** Sessions the server reports open, by user. */
  readonly sessions = new Map<string, LiveSession[]>();
  /** Connection attempts that fail with ECONNREFUSED before the server "comes up". */
  refuseNext = 0;
  connects = 0;
  /** Called at each connection attempt, before the credentials are checked (to interleave a racer). */
  onConnect?: (target: ConnectionTarget) => void;
  /** Called before each change with its intent; may throw, as a statement that loses a race would. */
  beforeChange?: (intent: string) => void;

  fits(name: string): boolean {
    return name.length <= this.maxUsernameLength;
  }

  truncate(name: string, reserve: number): string {
    return name.slice(0, this.maxUsernameLength - reserve);
  }

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    this.connects++;
    this.attempts.push({ username: target.username, ssl: target.ssl });
    this.onConnect?.(target);
    if (this.refuseNext > 0) {
      this.refuseNext--;
      throw new DatabaseUnavailableError(target.host, 'ECONNREFUSED', true);
    }
    if (this.users.get(target.username) !== target.password) {
      throw new DatabaseAuthenticationError(target.username, target.host);
    }
    const engine = this;
    const as = target.username;
    return {
      async check() {},
      async changeOwnPassword(password) {
        engine.beforeChange?.('change own password');
        engine.intents.push(`${as} changes own password`);
        engine.users.set(as, password);
        return PasswordForm.HASH;
      },
      async userExists(username) {
        return engine.users.has(username);
      },
      async setPassword(username, password) {
        engine.beforeChange?.('set password');
        engine.intents.push(`${as} sets password of ${username}`);
        engine.users.set(username, password);
        return PasswordForm.HASH;
      },
      async pairRecord(clone) {
        return engine.pairs.get(clone);
      },
      async createAlternate(record: PairRecord, password: string) {
        engine.beforeChange?.('create alternate');
        engine.intents.push(`${as} creates ${record.clone} like ${record.base}`);
        engine.pairs.set(record.clone, record);
        engine.users.set(record.clone, password);
      },
      async liveSessions(username) {
        return { sessions: engine.sessions.get(username) ?? [], complete: true };
      },
      async alignPrivileges(users: UserPair) {
        engine.intents.push(`${as} aligns ${users.clone} with ${users.base}`);
        engine.members.set(users.clone, users.base);
      },
      async close() {},
    };
  }
}
