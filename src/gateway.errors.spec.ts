import { hookFailureBody } from './gateway.errors.js';

describe('hookFailureBody', () => {
  it('carries the message of whatever the hook threw', () => {
    expect(hookFailureBody(new Error('boom'))).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'boom' });
    expect(hookFailureBody('plain string')).toMatchObject({ message: 'plain string' });
  });
});
