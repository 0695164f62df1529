import { DomainError } from '@encedeus/contracts';

/** The requested runtime is not installed on this node. */
export class RuntimeUnavailableError extends DomainError {
  constructor(readonly runtime: string) {
    super('FEATURE_DISABLED', `jobs: runtime ${runtime} is not available on this node`, { runtime });
  }
}

/** The job request is malformed (unknown runtime, non-positive limits). */
export class InvalidJobError extends DomainError {
  constructor(message: string) {
    super('VALIDATION_FAILED', `jobs: ${message}`);
  }
}

/** The sandbox could not be set up (temp dir, cgroup, spawn). */
export class JobSandboxError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', `jobs: ${message}`, undefined, options);
  }
}
