import { join } from 'node:path';
import { type GrpcObject, loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoDir } from '@safe/core';

/**
 * proto/safe/v1/gateway.proto through @grpc/proto-loader. Bytes stay Buffers (Uint8Array), enums
 * are numbers and defaults are filled in, the same shape packages/core's wire helpers expect.
 */
export function loadGateway(): { service: ServiceDefinition; Client: ServiceClientConstructor } {
  const definition = loadSync(join('safe', 'v1', 'gateway.proto'), {
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
  const Client = v1.Gateway as ServiceClientConstructor;
  return { service: Client.service, Client };
}
