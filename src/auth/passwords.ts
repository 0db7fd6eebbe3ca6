/**
 * Passwords as etcd keeps them: bcrypt hashes (bcryptjs), cost from
 * --bcrypt-cost (etcd's default 10). A password is hashed once, by the member
 * that receives it, before the request enters the Raft log, so the log and
 * every member's store hold only the hash (etcd 3.5's hashedPassword).
 */
import bcrypt from 'bcryptjs';

/** etcd's (Go bcrypt's) default cost, and the range etcd accepts. */
export const DEFAULT_BCRYPT_COST = 10;
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 31;

export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(password, cost);
}

/** Whether `password` is the one `hash` was made from; a malformed hash matches nothing. */
export async function passwordMatches(password: string, hash: Uint8Array): Promise<boolean> {
  try {
    return await bcrypt.compare(password, Buffer.from(hash).toString('latin1'));
  } catch {
    return false;
  }
}
