import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { SafeError } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { fromServiceError, toStatus } from './status.js';

describe('status mapping', () => {
  it('maps a kind to its status and back, with the message as details', () => {
    const status = toStatus(new SafeError('permission-denied', 'not yours'));
    expect(status).toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'not yours' });
    const back = fromServiceError({ code: GrpcStatus.PERMISSION_DENIED, details: 'not yours' } as ServiceError, 'x:1');
    expect(back).toMatchObject({ kind: 'permission-denied', message: 'not yours' });
  });

  it('cuts a message that quotes a long input, so its HTTP/2 trailer stays within any peer header limit', () => {
    const details = toStatus(new SafeError('invalid-argument', `type ${'P'.repeat(70_000)}`)).details as string;
    expect(details).toHaveLength(1025);
    expect(details.startsWith('type PPP')).toBe(true);
    expect(details.endsWith('…')).toBe(true);
  });
});
