export { TaskforgeClient, TaskCalls, newIdempotencyKey } from './client.js'
export type { CallOptions, CreateOptions, TaskforgeClientOptions, TaskTarget, WriteOptions } from './client.js'
export { ApiProblem } from './problem.js'
export type { ProblemDetails, ProblemFieldError } from './problem.js'
export type { SessionHook, SessionTokens } from './session.js'
export type { Fetch, RetryOptions } from './transport.js'
export type {
  AuthResult, Credentials, NewTask, RegisterInput, Task, TaskChanges, TaskFilters, TaskListQuery, TaskPage, TaskPriority,
  TaskReplacement, TaskStatus, User
} from './types.js'
export type { paths } from './generated/openapi.js'
