import type { EngineFamily } from '../secret';

/**
 * The longest user name each engine family accepts: PostgreSQL counts bytes (NAMEDATALEN - 1), MySQL
 * counts characters (MariaDB allows 80; 32 fits both).
 */
export const USERNAME_LIMITS = {
  postgres: { max: 63, unit: 'bytes' },
  mysql: { max: 32, unit: 'characters' },
} as const satisfies Record<EngineFamily, { max: number; unit: 'bytes' | 'characters' }>;

function length(family: EngineFamily, name: string): number {
  return USERNAME_LIMITS[family].unit === 'bytes' ? Buffer.byteLength(name, 'utf8') : [...name].length;
}

/** Whether `name` fits the family's user name limit. */
export function fitsUsername(family: EngineFamily, name: string): boolean {
  return length(family, name) <= USERNAME_LIMITS[family].max;
}

/** `name` shortened, whole characters at a time, to the family's limit minus `reserve`. */
export function truncateUsername(family: EngineFamily, name: string, reserve: number): string {
  const characters = [...name];
  while (length(family, characters.join('')) > USERNAME_LIMITS[family].max - reserve) characters.pop();
  return characters.join('');
}
