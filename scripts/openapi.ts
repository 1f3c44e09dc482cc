/** Writes the OpenAPI document the app serves at /docs/json to openapi.json, for clients and review. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderOpenApi } from './openapi-document.js'

const target = join(process.cwd(), 'openapi.json')
await writeFile(target, await renderOpenApi())
process.stdout.write(`wrote ${target}\n`)
