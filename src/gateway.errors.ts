/** Body of the 500 answered when a user hook throws: the message is the hook's own. */
export function hookFailureBody(error: unknown) {
  return {
    statusCode: 500,
    error: 'Internal Server Error',
    message: error instanceof Error ? error.message : String(error),
  };
}
