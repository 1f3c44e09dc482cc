export { TaskforgeClient, TaskCalls, TokenCalls, WebhookCalls, newIdempotencyKey } from './client.js'
export type { CallOptions, CreateOptions, TaskforgeClientOptions, TaskTarget, WebhookTarget, WriteOptions } from './client.js'
export { ApiProblem } from './problem.js'
export type { ProblemDetails, ProblemFieldError } from './problem.js'
export type { SessionHook, SessionTokens } from './session.js'
export type { Fetch, RetryOptions } from './transport.js'
export type {
  AuthResult, Credentials, DeliveryFilters, DeliveryListQuery, DeliveryPage, NewPersonalAccessToken, NewTask, NewWebhook,
  PersonalAccessToken, PersonalAccessTokenInput, RegisterInput, Task, TaskChanges, TaskFilters, TaskListQuery, TaskPage,
  TaskPriority, TaskReplacement, TaskStatus, TokenScope, User, Webhook, WebhookChanges, WebhookDelivery, WebhookEventType,
  WebhookInput
} from './types.js'
export type { paths } from './generated/openapi.js'
