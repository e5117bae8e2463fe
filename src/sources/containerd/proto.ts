import * as protobuf from 'protobufjs/light';

/**
 * The containerd API messages oomwatch reads, declared here (no .proto file is read at run time and no code is
 * generated). Each message names the .proto file of containerd's `api/` tree it follows and lists only the
 * fields oomwatch reads, with the field numbers of that file (containerd 1.6; the same numbers in 1.7 and 2.x):
 * protobuf skips the fields a message does not declare, so a containerd that sends more still decodes.
 *
 * Any payloads carry bare type names: containerd's typeurl registers events as `containerd.events.TaskOOM`
 * (no `type.googleapis.com/` prefix), and a container's `spec` is an Any whose value is the OCI runtime spec
 * as JSON (`types.containerd.io/opencontainers/runtime-spec/1/Spec`).
 *
 * This module loads protobufjs: only the containerd source's gRPC client imports it, on first use.
 */

type Fields = Record<string, protobuf.IField & { rule?: string; keyType?: string }>;
const str = (id: number): protobuf.IField => ({ type: 'string', id });
const u32 = (id: number): protobuf.IField => ({ type: 'uint32', id });
const stringMap = (id: number): protobuf.IField & { keyType: string } => ({
  keyType: 'string',
  type: 'string',
  id,
});
const message = (fields: Fields): { fields: Fields } => ({ fields });

const DEFINITIONS = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            // google/protobuf/timestamp.proto: int64 seconds = 1; int32 nanos = 2;
            Timestamp: message({ seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } }),
            // google/protobuf/any.proto: string type_url = 1; bytes value = 2;
            Any: message({ type_url: str(1), value: { type: 'bytes', id: 2 } }),
            // google/protobuf/empty.proto
            Empty: message({}),
          },
        },
      },
    },
    containerd: {
      nested: {
        events: {
          nested: {
            // api/events/task.proto
            // message TaskStart { string container_id = 1; uint32 pid = 2; }
            TaskStart: message({ container_id: str(1), pid: u32(2) }),
            // message TaskExit { string container_id = 1; string id = 2; uint32 pid = 3; uint32 exit_status = 4;
            //                    google.protobuf.Timestamp exited_at = 5; }
            TaskExit: message({
              container_id: str(1),
              id: str(2),
              pid: u32(3),
              exit_status: u32(4),
              exited_at: { type: 'google.protobuf.Timestamp', id: 5 },
            }),
            // message TaskOOM { string container_id = 1; }
            TaskOOM: message({ container_id: str(1) }),
            // message TaskDelete { string container_id = 1; uint32 pid = 2; uint32 exit_status = 3;
            //                      google.protobuf.Timestamp exited_at = 4; string id = 5; }
            TaskDelete: message({
              container_id: str(1),
              pid: u32(2),
              exit_status: u32(3),
              exited_at: { type: 'google.protobuf.Timestamp', id: 4 },
              id: str(5),
            }),
            // api/events/container.proto
            // message ContainerCreate { string id = 1; string image = 2; Runtime runtime = 3; }
            ContainerCreate: message({ id: str(1), image: str(2) }),
            // message ContainerUpdate { string id = 1; string image = 2; map<string, string> labels = 3; ... }
            ContainerUpdate: message({ id: str(1), image: str(2), labels: stringMap(3) }),
            // message ContainerDelete { string id = 1; }
            ContainerDelete: message({ id: str(1) }),
            // api/events/namespace.proto
            // message NamespaceCreate { string name = 1; map<string, string> labels = 2; }
            NamespaceCreate: message({ name: str(1) }),
            // message NamespaceDelete { string name = 1; }
            NamespaceDelete: message({ name: str(1) }),
          },
        },
        services: {
          nested: {
            // api/services/version/v1/version.proto
            version: {
              nested: {
                v1: {
                  nested: {
                    // message VersionResponse { string version = 1; string revision = 2; }
                    VersionResponse: message({ version: str(1), revision: str(2) }),
                  },
                },
              },
            },
            // api/services/namespaces/v1/namespace.proto
            namespaces: {
              nested: {
                v1: {
                  nested: {
                    // message Namespace { string name = 1; map<string, string> labels = 2; }
                    Namespace: message({ name: str(1) }),
                    // message ListNamespacesRequest { string filter = 1; }
                    ListNamespacesRequest: message({ filter: str(1) }),
                    // message ListNamespacesResponse { repeated Namespace namespaces = 1; }
                    ListNamespacesResponse: message({
                      namespaces: { rule: 'repeated', type: 'Namespace', id: 1 },
                    }),
                  },
                },
              },
            },
            // api/services/containers/v1/containers.proto
            containers: {
              nested: {
                v1: {
                  nested: {
                    // message Container { string id = 1; map<string, string> labels = 2; string image = 3;
                    //   Runtime runtime = 4; google.protobuf.Any spec = 5; ...
                    //   google.protobuf.Timestamp created_at = 8; ... }
                    // (snapshotter, snapshot_key, updated_at and extensions are not read)
                    Container: message({
                      id: str(1),
                      labels: stringMap(2),
                      image: str(3),
                      runtime: { type: 'Runtime', id: 4 },
                      spec: { type: 'google.protobuf.Any', id: 5 },
                      created_at: { type: 'google.protobuf.Timestamp', id: 8 },
                    }),
                    // message Container.Runtime { string name = 1; google.protobuf.Any options = 2; }
                    Runtime: message({ name: str(1) }),
                    // message GetContainerRequest { string id = 1; }
                    GetContainerRequest: message({ id: str(1) }),
                    // message GetContainerResponse { Container container = 1; }
                    GetContainerResponse: message({ container: { type: 'Container', id: 1 } }),
                    // message ListContainersRequest { repeated string filters = 1; }
                    ListContainersRequest: message({ filters: { rule: 'repeated', type: 'string', id: 1 } }),
                    // message ListContainersResponse { repeated Container containers = 1; }
                    ListContainersResponse: message({
                      containers: { rule: 'repeated', type: 'Container', id: 1 },
                    }),
                  },
                },
              },
            },
            // api/services/tasks/v1/tasks.proto
            tasks: {
              nested: {
                v1: {
                  nested: {
                    // message ListTasksRequest { string filter = 1; }
                    ListTasksRequest: message({ filter: str(1) }),
                    // message ListTasksResponse { repeated containerd.v1.types.Process tasks = 1; }
                    ListTasksResponse: message({
                      tasks: { rule: 'repeated', type: 'containerd.v1.types.Process', id: 1 },
                    }),
                  },
                },
              },
            },
            // api/services/events/v1/events.proto
            events: {
              nested: {
                v1: {
                  nested: {
                    // message SubscribeRequest { repeated string filters = 1; }
                    SubscribeRequest: message({ filters: { rule: 'repeated', type: 'string', id: 1 } }),
                    // message Envelope { google.protobuf.Timestamp timestamp = 1; string namespace = 2;
                    //                    string topic = 3; google.protobuf.Any event = 4; }
                    Envelope: message({
                      timestamp: { type: 'google.protobuf.Timestamp', id: 1 },
                      namespace: str(2),
                      topic: str(3),
                      event: { type: 'google.protobuf.Any', id: 4 },
                    }),
                  },
                },
              },
            },
          },
        },
        v1: {
          nested: {
            types: {
              nested: {
                // api/types/task/task.proto
                // message Process { string container_id = 1; string id = 2; uint32 pid = 3; Status status = 4;
                //   ...; uint32 exit_status = 9; google.protobuf.Timestamp exited_at = 10; }
                // (stdin, stdout, stderr and terminal are not read)
                // enum Status { UNKNOWN = 0; CREATED = 1; RUNNING = 2; STOPPED = 3; PAUSED = 4; PAUSING = 5; }
                // (read as its number: an enum on the wire is a varint)
                Process: message({
                  container_id: str(1),
                  id: str(2),
                  pid: u32(3),
                  status: { type: 'uint32', id: 4 },
                  exit_status: u32(9),
                  exited_at: { type: 'google.protobuf.Timestamp', id: 10 },
                }),
              },
            },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DEFINITIONS as protobuf.INamespace);

/** A message type by its full name (`containerd.events.TaskOOM`). */
export function messageType(name: string): protobuf.Type {
  return root.lookupType(name);
}

/** The event payloads oomwatch decodes, by their Any type name; the envelope of any other is kept undecoded. */
export const EVENT_TYPE_NAMES = [
  'containerd.events.TaskStart',
  'containerd.events.TaskExit',
  'containerd.events.TaskOOM',
  'containerd.events.TaskDelete',
  'containerd.events.ContainerCreate',
  'containerd.events.ContainerUpdate',
  'containerd.events.ContainerDelete',
  'containerd.events.NamespaceCreate',
  'containerd.events.NamespaceDelete',
] as const;
