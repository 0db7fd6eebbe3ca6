// The auth store's rules as etcd 3.4 has them (auth/store.go): what each change needs and
// refuses, what moves the revision, how permission and admin checks answer, and that the
// records it stages are the whole state (a store loaded from them answers the same).
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { AuthStore, type StoredAuthRecord } from '../../../src/auth/authStore.js';
import * as E from '../../../src/auth/errors.js';
import { hashPassword } from '../../../src/auth/passwords.js';
import { SimpleTokens } from '../../../src/auth/simpleTokens.js';
import { Permission, Permission_Type } from '../../../src/proto/authpb.js';
import type { AuthBucket } from '../../../src/storage/backend/layout.js';

interface Harness {
  store: AuthStore;
  tokens: SimpleTokens;
  /** The backend as the staged records left it. */
  records(): StoredAuthRecord[];
}

function harness(): Harness {
  const kept = new Map<string, StoredAuthRecord>();
  const tokens = new SimpleTokens({ ttlMs: 60_000 });
  const store = new AuthStore({
    records: {
      stage: (bucket: AuthBucket, key: Uint8Array, value: Uint8Array | undefined) => {
        const id = `${bucket}/${Buffer.from(key).toString('hex')}`;
        if (value === undefined) kept.delete(id);
        else kept.set(id, { bucket, key: Buffer.from(key), value: Buffer.from(value) });
      },
    },
    tokens,
    logger: pino({ level: 'silent' }),
  });
  return { store, tokens, records: () => [...kept.values()] };
}

const root = { username: 'root', revision: 0 };
const key = (s: string): Buffer => Buffer.from(s);

/** root with the root role, a role `app` (readwrite app/ prefix), a user `app` with it; auth on. */
async function withUsers(h: Harness): Promise<void> {
  const { store } = h;
  store.apply('authUserAdd', { name: 'root', password: '', hashedPassword: await hashPassword('rootpw', 4) });
  store.apply('authUserGrantRole', { user: 'root', role: 'root' });
  store.apply('authRoleAdd', { name: 'app' });
  store.apply('authRoleGrantPermission', {
    name: 'app',
    perm: { permType: Permission_Type.READWRITE, key: key('app/'), rangeEnd: key('app0') },
  });
  store.apply('authUserAdd', { name: 'app', password: '', hashedPassword: await hashPassword('apppw', 4) });
  store.apply('authUserGrantRole', { user: 'app', role: 'app' });
  store.apply('authEnable', {});
}

describe('auth store', () => {
  it('enabling needs root with the root role, which may be granted before a role named root exists', async () => {
    const { store } = harness();
    expect(() => store.apply('authEnable', {})).toThrow(E.ErrRootUserNotExist);
    store.apply('authUserAdd', { name: 'root', password: '', hashedPassword: await hashPassword('x', 4) });
    expect(() => store.apply('authEnable', {})).toThrow(E.ErrRootRoleNotExist);
    store.apply('authUserGrantRole', { user: 'root', role: 'root' });
    const before = store.revision;
    store.apply('authEnable', {});
    expect(store.isEnabled).toBe(true);
    // etcd's AuthEnable leaves the revision; AuthDisable moves it.
    expect(store.revision).toBe(before);
    store.apply('authEnable', {});
    store.apply('authDisable', {});
    expect(store.revision).toBe(before + 1);
    store.apply('authDisable', {});
    expect(store.revision).toBe(before + 1);
  });

  it("refuses what etcd refuses, with etcd's errors, and changes nothing then", async () => {
    const h = harness();
    await withUsers(h);
    const { store } = h;
    const rev = store.revision;
    const refused: Array<[() => void, E.AuthError]> = [
      [() => store.apply('authUserAdd', { name: '', password: '', hashedPassword: '' }), E.ErrUserEmpty],
      [
        () => store.apply('authUserAdd', { name: 'app', password: '', hashedPassword: '' }),
        E.ErrUserAlreadyExist,
      ],
      [() => store.apply('authUserDelete', { name: 'nobody' }), E.ErrUserNotFound],
      [() => store.apply('authUserDelete', { name: 'root' }), E.ErrInvalidAuthMgmt],
      [() => store.apply('authUserRevokeRole', { name: 'root', role: 'root' }), E.ErrInvalidAuthMgmt],
      [() => store.apply('authRoleDelete', { role: 'root' }), E.ErrInvalidAuthMgmt],
      [() => store.apply('authUserRevokeRole', { name: 'app', role: 'root' }), E.ErrRoleNotGranted],
      [() => store.apply('authUserGrantRole', { user: 'app', role: 'nothing' }), E.ErrRoleNotFound],
      [() => store.apply('authUserGrantRole', { user: 'nobody', role: 'app' }), E.ErrUserNotFound],
      [
        () => store.apply('authUserChangePassword', { name: 'nobody', password: '', hashedPassword: '' }),
        E.ErrUserNotFound,
      ],
      [() => store.apply('authRoleAdd', { name: '' }), E.ErrRoleEmpty],
      [() => store.apply('authRoleAdd', { name: 'app' }), E.ErrRoleAlreadyExist],
      [() => store.apply('authRoleDelete', { role: 'nothing' }), E.ErrRoleNotFound],
      [() => store.apply('authRoleGrantPermission', { name: 'app' }), E.ErrPermissionNotGiven],
      [() => store.apply('authRoleGrantPermission', { name: 'nothing' }), E.ErrRoleNotFound],
      [
        () => store.apply('authRoleRevokePermission', { role: 'app', key: key('x'), rangeEnd: key('') }),
        E.ErrPermissionNotGranted,
      ],
    ];
    for (const [change, err] of refused) expect(change).toThrow(err);
    expect(store.revision).toBe(rev);
    // Granting a role the user has already is no change at all.
    store.apply('authUserGrantRole', { user: 'app', role: 'app' });
    expect(store.revision).toBe(rev);
  });

  it('checks ranges for the user at the revision it carries; root may do anything', async () => {
    const h = harness();
    await withUsers(h);
    const { store } = h;
    const app = { username: 'app', revision: store.revision };
    store.isRangePermitted(app, key('app/x'));
    store.isDeleteRangePermitted(app, key('app/'), key('app0'));
    expect(() => store.isPutPermitted(app, key('other'))).toThrow(E.ErrPermissionDenied);
    expect(() => store.isRangePermitted(undefined, key('app/x'))).toThrow(E.ErrUserEmpty);
    expect(() => store.isRangePermitted({ username: 'app', revision: 0 }, key('app/x'))).toThrow(
      E.ErrUserEmpty,
    );
    expect(() =>
      store.isRangePermitted({ username: 'ghost', revision: store.revision }, key('app/x')),
    ).toThrow(E.ErrPermissionDenied);
    store.isPutPermitted({ username: 'root', revision: store.revision }, key('anything'));
    store.apply('authRoleAdd', { name: 'later' });
    expect(() => store.isRangePermitted(app, key('app/x'))).toThrow(E.ErrAuthOldRevision);
    // The admin check does not look at the revision (etcd's IsAdminPermitted).
    store.isAdminPermitted(root);
    expect(() => store.isAdminPermitted(app)).toThrow(E.ErrPermissionDenied);
    expect(() => store.isAdminPermitted({ username: 'ghost', revision: 1 })).toThrow(E.ErrUserNotFound);
    expect(() => store.isAdminPermitted(undefined)).toThrow(E.ErrUserEmpty);
    store.apply('authDisable', {});
    store.isPutPermitted(undefined, key('anything'));
    store.isAdminPermitted(undefined);
  });

  it('a deleted role leaves its users; a deleted user or a changed password voids its simple tokens', async () => {
    const h = harness();
    await withUsers(h);
    const { store, tokens } = h;
    const token = await tokens.assign('app');
    store.apply('authRoleDelete', { role: 'app' });
    expect(store.userGet('app')).toEqual([]);
    expect(await tokens.info(token, store.revision)).toEqual({ username: 'app', revision: store.revision });
    store.apply('authUserChangePassword', {
      name: 'app',
      password: '',
      hashedPassword: await hashPassword('new', 4),
    });
    expect(await tokens.info(token, store.revision)).toBeUndefined();
    const again = await tokens.assign('app');
    store.apply('authUserDelete', { name: 'app' });
    expect(await tokens.info(again, store.revision)).toBeUndefined();
    tokens.stop();
  });

  it('passwords: checked with bcrypt, refused for unknown users and users without one, only with auth on', async () => {
    const h = harness();
    await expect(h.store.checkPassword('root', 'rootpw')).rejects.toBe(E.ErrAuthNotEnabled);
    await withUsers(h);
    const { store } = h;
    store.apply('authUserAdd', {
      name: 'cert',
      password: '',
      hashedPassword: '',
      options: { noPassword: true },
    });
    expect(await store.checkPassword('app', 'apppw')).toBe(store.revision);
    await expect(store.checkPassword('app', 'wrong')).rejects.toBe(E.ErrAuthFailed);
    await expect(store.checkPassword('nobody', 'x')).rejects.toBe(E.ErrAuthFailed);
    await expect(store.checkPassword('cert', '')).rejects.toBe(E.ErrNoPasswordUser);
  });

  it('the staged records are the whole state: a store loaded from them answers the same', async () => {
    const h = harness();
    await withUsers(h);
    h.store.apply('authRoleAdd', { name: 'extra' });
    h.store.apply('authRoleGrantPermission', {
      name: 'extra',
      perm: { permType: Permission_Type.READ, key: key('z'), rangeEnd: key('\0') },
    });
    h.store.apply('authUserGrantRole', { user: 'app', role: 'extra' });
    const copy = harness();
    copy.store.load(h.records());
    expect(copy.store.isEnabled).toBe(true);
    expect(copy.store.revision).toBe(h.store.revision);
    expect(copy.store.userList()).toEqual(['app', 'root']);
    expect(copy.store.roleList()).toEqual(['app', 'extra']);
    const encoded = (a: AuthStore): Buffer[] =>
      a.roleGet('extra').map((p) => Buffer.from(Permission.encode(p)));
    expect(encoded(copy.store)).toEqual(encoded(h.store));
    expect(copy.store.userGet('app')).toEqual(['app', 'extra']);
    expect(await copy.store.checkPassword('app', 'apppw')).toBe(copy.store.revision);
    const app = { username: 'app', revision: copy.store.revision };
    copy.store.isRangePermitted(app, key('zz'), key('\0'));
    expect(() => copy.store.isPutPermitted(app, key('zz'))).toThrow(E.ErrPermissionDenied);
  });
});
