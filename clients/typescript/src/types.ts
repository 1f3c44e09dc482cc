/**
 * The API's types, taken from the generated paths by route (the names API.md
 * fixes), never from the document's component names: those may be renamed or
 * split when the document changes, the routes may not.
 */
import type { paths } from './generated/openapi.js'

type JsonBody<Operation> = Operation extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never
type JsonAnswer<Operation, Status extends number> =
  Operation extends { responses: { [S in Status]: { content: { 'application/json': infer Body } } } } ? Body : never

export type User = JsonAnswer<paths['/auth/me']['get'], 200>
export type AuthResult = JsonAnswer<paths['/auth/login']['post'], 200>
export type RegisterInput = JsonBody<paths['/auth/register']['post']>
export type Credentials = JsonBody<paths['/auth/login']['post']>

export type Task = JsonAnswer<paths['/tasks/{id}']['get'], 200>
export type TaskStatus = Task['status']
export type TaskPriority = Task['priority']
/** POST /tasks: title, and any of description, status, priority, dueAt, tags. */
export type NewTask = JsonBody<paths['/tasks']['post']>
/** PUT /tasks/:id: every writable field; those left out are reset to their defaults. */
export type TaskReplacement = JsonBody<paths['/tasks/{id}']['put']>
/** PATCH /tasks/:id: any non-empty subset of the writable fields. */
export type TaskChanges = JsonBody<paths['/tasks/{id}']['patch']>
/** GET /tasks: one page and the cursor of the next (null on the last). */
export type TaskPage = JsonAnswer<paths['/tasks']['get'], 200>
/** GET /tasks's query. */
export type TaskListQuery = NonNullable<paths['/tasks']['get']['parameters']['query']>
/** The filters and sort of GET /tasks: its query without the cursor, which the iterator keeps. */
export type TaskFilters = Omit<TaskListQuery, 'cursor'>

/** A personal access token as GET /auth/tokens lists it: never its secret. */
export type PersonalAccessToken = JsonAnswer<paths['/auth/tokens']['get'], 200>['items'][number]
/** POST /auth/tokens's answer: a PersonalAccessToken and, this once, its secret (`token`). */
export type NewPersonalAccessToken = JsonAnswer<paths['/auth/tokens']['post'], 201>
/** POST /auth/tokens: name, scopes, and expiresAt (or none, to live until revoked). */
export type PersonalAccessTokenInput = JsonBody<paths['/auth/tokens']['post']>
export type TokenScope = PersonalAccessToken['scopes'][number]

/** A webhook as GET /webhooks lists it: never its secret. */
export type Webhook = JsonAnswer<paths['/webhooks/{id}']['get'], 200>
/** POST /webhooks's and rotate-secret's answer: a Webhook and, this once, its signing secret (`secret`, "whsec_…"). */
export type NewWebhook = JsonAnswer<paths['/webhooks']['post'], 201>
/** POST /webhooks: url, events, and a description if you like. */
export type WebhookInput = JsonBody<paths['/webhooks']['post']>
/** PATCH /webhooks/:id: any non-empty subset of url, events, description and enabled. */
export type WebhookChanges = JsonBody<paths['/webhooks/{id}']['patch']>
/** What a webhook may subscribe to. */
export type WebhookEventType = Webhook['events'][number]
/** One event's delivery to one webhook, its attempts summed up. */
export type WebhookDelivery = DeliveryPage['items'][number]
/** GET /webhooks/:id/deliveries: one page, newest first, and the cursor of the next (null on the last). */
export type DeliveryPage = JsonAnswer<paths['/webhooks/{id}/deliveries']['get'], 200>
/** GET /webhooks/:id/deliveries's query. */
export type DeliveryListQuery = NonNullable<paths['/webhooks/{id}/deliveries']['get']['parameters']['query']>
/** The deliveries' query without the cursor, which the iterator keeps. */
export type DeliveryFilters = Omit<DeliveryListQuery, 'cursor'>
