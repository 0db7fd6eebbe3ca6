// The npm etcd3 client's roles API (client.user(), client.role(), getUsers/getRoles, the
// Auth RPCs) and its `auth: {username, password}` option against one member: users and
// roles made and listed, permissions granted and revoked, the client's error classes for
// etcd's texts, auth enabled and the permissions enforced, a watch refused, and the
// automatic re-authentication when a token goes bad (a password change voids the user's
// tokens, as etcd's simple tokens do).
import { expect, it } from 'vitest';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdRoleExistsError,
  EtcdRoleNotFoundError,
  EtcdRoleNotGrantedError,
  EtcdUserExistsError,
  EtcdUserNotFoundError,
  GRPCInvalidArgumentError,
} from 'etcd3';
import { describeTargets, type TargetContext } from './targets.js';

function clientAs(ctx: TargetContext, username?: string, password?: string): Etcd3 {
  const c = new Etcd3({
    hosts: ctx.endpoint(),
    ...(username !== undefined ? { auth: { username, password: password ?? '' } } : {}),
  });
  return ctx.scope.add(c, `etcd3 client ${username ?? 'anonymous'}`, (x) => x.close());
}

describeTargets(
  'etcd3 client: roles and auth',
  (ctx) => {
    it('users and roles: create, list, grant, revoke, and the errors etcd answers', async () => {
      const c = clientAs(ctx);
      await c.user('root').create('rootpw');
      await c.user('alice').create('alicepw');
      await c.user('bob').create('bobpw');
      await expect(c.user('alice').create('again')).rejects.toBeInstanceOf(EtcdUserExistsError);
      await c.role('reader').create();
      await c.role('writer').create();
      await expect(c.role('reader').create()).rejects.toBeInstanceOf(EtcdRoleExistsError);

      await c.role('reader').grant({ permission: 'Read', range: c.range({ prefix: 'app/' }) });
      await c.role('writer').grant([
        { permission: 'Readwrite', range: c.range({ prefix: 'app/w/' }) },
        { permission: 'Write', key: 'app/log' },
      ]);
      expect(await c.role('writer').permissions()).toEqual([
        { permission: 'Write', range: c.range({ start: 'app/log', end: '' }) },
        { permission: 'Readwrite', range: c.range({ prefix: 'app/w/' }) },
      ]);

      await c.role('reader').addUser('alice');
      await c.user('alice').addRole('writer');
      await c.user('bob').addRole(c.role('reader'));
      expect((await c.user('alice').roles()).map((r) => r.name)).toEqual(['reader', 'writer']);
      expect((await c.getUsers()).map((u) => u.name)).toEqual(['alice', 'bob', 'root']);
      expect((await c.getRoles()).map((r) => r.name)).toEqual(['reader', 'writer']);

      await c.role('reader').removeUser('bob');
      expect(await c.user('bob').roles()).toEqual([]);
      await expect(c.role('reader').removeUser('bob')).rejects.toBeInstanceOf(EtcdRoleNotGrantedError);
      await expect(c.user('nobody').roles()).rejects.toBeInstanceOf(EtcdUserNotFoundError);
      await expect(c.role('nothing').permissions()).rejects.toBeInstanceOf(EtcdRoleNotFoundError);
      await expect(c.user('bob').addRole('nothing')).rejects.toBeInstanceOf(EtcdRoleNotFoundError);

      await c.role('temp').create();
      await c.role('temp').grant({ permission: 'Read', key: 'x' });
      await c.role('temp').revoke({ permission: 'Read', key: 'x' });
      expect(await c.role('temp').permissions()).toEqual([]);
      await c.role('temp').delete();
      expect((await c.getRoles()).map((r) => r.name)).toEqual(['reader', 'writer']);
    });

    it('auth on: the auth option signs in, permissions hold per key and range', async () => {
      const anonymous = clientAs(ctx);
      await anonymous.user('root').addRole('root');
      await anonymous.auth.authEnable();
      await expect(anonymous.get('app/a').string()).rejects.toBeInstanceOf(GRPCInvalidArgumentError);

      const root = clientAs(ctx, 'root', 'rootpw');
      await root.put('app/a').value('1');
      await root.put('app/w/b').value('2');
      await root.put('secret').value('s');

      const alice = clientAs(ctx, 'alice', 'alicepw');
      expect(await alice.get('app/a').string()).toBe('1');
      expect(await alice.getAll().prefix('app/').keys()).toEqual(['app/a', 'app/w/b']);
      await alice.put('app/w/c').value('3');
      await alice.put('app/log').value('line');
      await expect(alice.put('app/a').value('x')).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.get('secret').string()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.getAll().keys()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.delete().key('app/a')).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(
        alice.if('app/a', 'Value', '==', '1').then(alice.put('secret').value('x')).commit(),
      ).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      expect((await alice.user('alice').roles()).map((r) => r.name)).toEqual(['reader', 'writer']);
      await expect(alice.getUsers()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.user('carol').create('x')).rejects.toBeInstanceOf(EtcdPermissionDeniedError);

      const wrong = clientAs(ctx, 'alice', 'not-her-password');
      await expect(wrong.get('app/a').string()).rejects.toBeInstanceOf(EtcdAuthenticationFailedError);
      const stranger = clientAs(ctx, 'mallory', 'x');
      await expect(stranger.get('app/a').string()).rejects.toBeInstanceOf(EtcdAuthenticationFailedError);
    });

    it('a watch on keys the user may not read is refused', async () => {
      const bob = clientAs(ctx, 'bob', 'bobpw');
      await expect(bob.watch().key('app/a').create()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    });

    it('a token made invalid (password change) is replaced by signing in again, unseen by the caller', async () => {
      const root = clientAs(ctx, 'root', 'rootpw');
      const alice = clientAs(ctx, 'alice', 'alicepw');
      expect(await alice.get('app/a').string()).toBe('1');
      // The same password again: alice's tokens are void, her credentials are still good.
      await root.user('alice').setPassword('alicepw');
      expect(await alice.get('app/a').string()).toBe('1');
      await root.role('reader').removeUser('alice');
      await expect(alice.get('app/a').string()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await root.user('alice').delete();
      await expect(alice.get('app/w/b').string()).rejects.toBeInstanceOf(EtcdAuthenticationFailedError);
      await root.auth.authDisable();
      expect(await clientAs(ctx).get('secret').string()).toBe('s');
    });
  },
  { serverArgs: { etcd: ['--bcrypt-cost=4'], xetcd: ['--bcrypt-cost=4'] } },
);
