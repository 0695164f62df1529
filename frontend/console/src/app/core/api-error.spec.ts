import { ApiError, readableMessage } from './api-error';

describe('readableMessage', () => {
  it('leaves out the ids a message names', () => {
    const e = new ApiError('Server 0f8d3c3e-7a47-4c55-9d6b-2a9d1f6a5e10 was not found', 'NOT_FOUND', 404);

    expect(readableMessage(e)).toBe('Server was not found');
  });

  it('keeps a message without ids as it is, and never prints the code', () => {
    const e = new ApiError('You may not start, stop or kill this server', 'FORBIDDEN', 403);

    expect(readableMessage(e)).toBe('You may not start, stop or kill this server');
  });

  it('says something when nothing but an id was left', () => {
    expect(readableMessage(new ApiError('0f8d3c3e-7a47-4c55-9d6b-2a9d1f6a5e10', 'NOT_FOUND', 404))).toBe('Something went wrong');
  });
});
