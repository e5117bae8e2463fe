/**
 * The catalogue of errors a user can act on. Each names the problem and the fix; the code is stable so
 * scripts and docs can refer to it.
 */
export type ErrorCode =
  | 'OOMW_USAGE' // bad flag or argument
  | 'OOMW_CGROUP_ROOT' // cgroup root missing or without a memory controller
  | 'OOMW_WEB_CONFIG' // --web-config unreadable or invalid
  | 'OOMW_STATE' // state directory unusable
  | 'OOMW_NOT_FOUND' // no such container
  | 'OOMW_AMBIGUOUS' // container prefix matches several
  | 'OOMW_DOCKER' // Docker not reachable
  | 'OOMW_PERMISSION'; // cannot read cgroups or kmsg

export class OomwatchError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Process exit code when this error ends a command: 2 for usage errors, 1 otherwise. */
    readonly exitCode: number = code === 'OOMW_USAGE' ||
    code === 'OOMW_CGROUP_ROOT' ||
    code === 'OOMW_WEB_CONFIG'
      ? 2
      : 1,
  ) {
    super(message);
    this.name = 'OomwatchError';
  }
}
