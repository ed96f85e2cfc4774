import { join } from 'node:path';
import { type GrpcObject, loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoDir } from '@safe/core';

/**
 * A service of proto/safe/v1/<file> through @grpc/proto-loader. Bytes stay Buffers (Uint8Array),
 * enums are numbers and defaults are filled in, the same shape packages/core's wire helpers expect.
 */
function loadService(file: string, name: string): { service: ServiceDefinition; Client: ServiceClientConstructor } {
  const definition = loadSync(join('safe', 'v1', file), {
    includeDirs: [protoDir()],
    keepCase: false,
    longs: Number,
    enums: Number,
    defaults: true,
    arrays: true,
    objects: true,
  });
  const root = loadPackageDefinition(definition) as GrpcObject;
  const safe = root.safe as GrpcObject;
  const v1 = safe.v1 as GrpcObject;
  const Client = v1[name] as ServiceClientConstructor;
  return { service: Client.service, Client };
}

/** proto/safe/v1/gateway.proto: the client entry. */
export function loadGateway(): { service: ServiceDefinition; Client: ServiceClientConstructor } {
  return loadService('gateway.proto', 'Gateway');
}

/** proto/safe/v1/node.proto: direct messages between replicas. */
export function loadNode(): { service: ServiceDefinition; Client: ServiceClientConstructor } {
  return loadService('node.proto', 'Node');
}
