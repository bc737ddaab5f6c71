import type {
  ConnectionTarget,
  DatabaseEngine,
  DatabaseSession,
  LiveSession,
  UserPair,
} from '../../../functions/database/engines/engine';
import { DatabaseAuthenticationError, DatabaseUnavailableError } from '../../../functions/database/errors';

/** An in-memory database that records intents, for strategy unit tests. */
export class FakeEngine implements DatabaseEngine {
  readonly family = 'postgres' as const;
  readonly maxUsernameLength = 16;
  readonly users = new Map<string, string>();
  readonly members = new Map<string, string>();
  readonly intents: string[] = [];
  /** Sessions the server reports open, by user. */
  readonly sessions = new Map<string, LiveSession[]>();
  /** Connection attempts that fail with ECONNREFUSED before the server "comes up". */
  refuseNext = 0;
  connects = 0;

  fits(name: string): boolean {
    return name.length <= this.maxUsernameLength;
  }

  truncate(name: string, reserve: number): string {
    return name.slice(0, this.maxUsernameLength - reserve);
  }

  async connect(target: ConnectionTarget): Promise<DatabaseSession> {
    this.connects++;
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
        engine.intents.push(`${as} changes own password`);
        engine.users.set(as, password);
      },
      async userExists(username) {
        return engine.users.has(username);
      },
      async setPassword(username, password) {
        engine.intents.push(`${as} sets password of ${username}`);
        engine.users.set(username, password);
      },
      async createUserLike(source, target, password) {
        engine.intents.push(`${as} creates ${target} like ${source}`);
        engine.users.set(target, password);
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
