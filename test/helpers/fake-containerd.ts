import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES } from './paths';

/**
 * A stand-in for containerd's gRPC API on a unix socket, answering with containerd's own bytes: the messages
 * captured from containerd 1.6 in test/fixtures/containerd (see messages.json), served verbatim. oomwatch's
 * client decodes them exactly as it decodes a real containerd's. Tests push captured event envelopes to the
 * subscribers, stop the server to see the stream break (UNAVAILABLE), and start it again on the same socket.
 */
export const CONTAINERD_FIXTURES = path.join(FIXTURES, 'containerd');

export function fixtureBytes(file: string): Buffer {
  return fs.readFileSync(path.join(CONTAINERD_FIXTURES, file));
}

/** The captured envelopes, in the order containerd sent them. */
export function capturedEnvelopes(): Array<{ file: string; bytes: Buffer }> {
  const dir = path.join(CONTAINERD_FIXTURES, 'events');
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => ({ file: f, bytes: fs.readFileSync(path.join(dir, f)) }));
}

export interface FakeCall {
  method: string;
  namespace: string | undefined;
}

type Unary = (namespace: string | undefined, request: Buffer) => Buffer | grpc.StatusObject | 'hang';

const identity = (b: Buffer): Buffer => b;
const SERVICES = 'containerd.services';

export class FakeContainerd {
  readonly calls: FakeCall[] = [];
  private server: grpc.Server | undefined;
  private readonly subscribers = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
  /** Override a unary method's answer (method path -> handler). */
  readonly unary = new Map<string, Unary>();

  constructor(readonly socket: string) {}

  /** Serve on the socket (again). */
  async start(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    const server = new grpc.Server();
    const def = (name: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
      path: `/${SERVICES}.${name}`,
      requestStream: false,
      responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    });
    const ns = (call: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>) => {
      const v = call.metadata.get('containerd-namespace')[0];
      return v === undefined ? undefined : String(v);
    };
    const unary =
      (method: string, answer: Unary) =>
      (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const namespace = ns(call);
        this.calls.push({ method, namespace });
        const a = (this.unary.get(method) ?? answer)(namespace, call.request);
        if (a === 'hang') return;
        if (Buffer.isBuffer(a)) cb(null, a);
        else cb(a as grpc.ServiceError);
      };
    const file = (f: string): Buffer | grpc.StatusObject =>
      fs.existsSync(path.join(CONTAINERD_FIXTURES, f))
        ? fixtureBytes(f)
        : { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() };
    const empty = Buffer.alloc(0);
    server.addService(
      {
        Version: def('version.v1.Version/Version', false),
      },
      { Version: unary('Version', () => fixtureBytes('version.pb')) },
    );
    server.addService(
      { List: def('namespaces.v1.Namespaces/List', false) },
      { List: unary('Namespaces/List', () => fixtureBytes('namespaces.pb')) },
    );
    server.addService(
      {
        List: def('containers.v1.Containers/List', false),
        ListStream: def('containers.v1.Containers/ListStream', true),
        Get: def('containers.v1.Containers/Get', false),
      },
      {
        List: unary('Containers/List', (n) => {
          const b = file(`containers-${n}.pb`);
          return Buffer.isBuffer(b) ? b : empty;
        }),
        ListStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
          const namespace = ns(call);
          this.calls.push({ method: 'Containers/ListStream', namespace });
          for (
            let i = 0;
            fs.existsSync(path.join(CONTAINERD_FIXTURES, `containers-${namespace}-${i}.pb`));
            i++
          )
            call.write(fixtureBytes(`containers-${namespace}-${i}.pb`));
          call.end();
        },
        Get: unary('Containers/Get', (n, req) =>
          // GetContainerRequest { string id = 1; }: the captured answer is worker's in default
          n === 'default' && req.toString('latin1').includes('worker')
            ? fixtureBytes('container-get-worker.pb')
            : { code: grpc.status.NOT_FOUND, details: 'container not found', metadata: new grpc.Metadata() },
        ),
      },
    );
    server.addService(
      { List: def('tasks.v1.Tasks/List', false) },
      {
        List: unary('Tasks/List', (n) => {
          const b = file(`tasks-${n}.pb`);
          return Buffer.isBuffer(b) ? b : empty;
        }),
      },
    );
    server.addService(
      { Subscribe: def('events.v1.Events/Subscribe', true) },
      {
        Subscribe: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
          this.calls.push({ method: 'Events/Subscribe', namespace: ns(call) });
          this.subscribers.add(call);
          call.on('cancelled', () => this.subscribers.delete(call));
        },
      },
    );
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    this.server = server;
  }

  /** Send an envelope (Envelope bytes) to every subscriber. */
  publish(envelope: Buffer): void {
    for (const s of this.subscribers) s.write(envelope);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Stop as containerd does when it exits: open streams end with UNAVAILABLE. */
  async stop(): Promise<void> {
    // The client sees what a containerd that exits gives it: 14 UNAVAILABLE on the open streams.
    for (const s of this.subscribers)
      s.emit('error', { code: grpc.status.UNAVAILABLE, details: 'Connection dropped' });
    this.subscribers.clear();
    await new Promise((r) => setTimeout(r, 20));
    this.server?.forceShutdown();
    this.server = undefined;
    fs.rmSync(this.socket, { force: true });
  }
}
