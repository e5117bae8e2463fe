import { ContainerTable } from '../../src/state/containers';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('the container table', () => {
  it('tells every subscriber of a new container, in the order they subscribed, once', () => {
    const table = new ContainerTable();
    const calls: string[] = [];
    table.onCreated((e) => calls.push(`state:${e.id.slice(0, 1)}`));
    table.onCreated((e) => calls.push(`docker:${e.id.slice(0, 1)}`));
    table.ensure(A);
    table.ensure(A);
    table.ensure(B);
    expect(calls).toEqual(['state:a', 'docker:a', 'state:b', 'docker:b']);
  });

  it('stops telling a subscriber that unsubscribed, and the others go on', () => {
    const table = new ContainerTable();
    const calls: string[] = [];
    const off = table.onCreated(() => calls.push('pods'));
    table.onCreated(() => calls.push('state'));
    off();
    table.ensure(A);
    expect(calls).toEqual(['state']);
  });

  it('counts present containers and gone ones kept for the grace period', () => {
    const table = new ContainerTable();
    table.ensure(A, 0);
    table.markGone(table.ensure(B, 0), 1000);
    expect(table.counts()).toEqual({ present: 1, gone: 1 });
    table.sweep(1000 + 60_000, 60_000);
    expect(table.counts()).toEqual({ present: 1, gone: 0 });
  });
});
