export { TaskforgeClient, TaskCalls, TokenCalls, newIdempotencyKey } from './client.js'
export type { CallOptions, CreateOptions, TaskforgeClientOptions, TaskTarget, WriteOptions } from './client.js'
export { ApiProblem } from './problem.js'
export type { ProblemDetails, ProblemFieldError } from './problem.js'
export type { SessionHook, SessionTokens } from './session.js'
export type { Fetch, RetryOptions } from './transport.js'
export type {
  AuthResult, Credentials, NewPersonalAccessToken, NewTask, PersonalAccessToken, PersonalAccessTokenInput, RegisterInput, Task, TaskChanges,
  TaskFilters, TaskListQuery, TaskPage, TaskPriority, TaskReplacement, TaskStatus, TokenScope, User
} from './types.js'
export type { paths } from './generated/openapi.js'
