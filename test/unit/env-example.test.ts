import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { EnvironmentSchema, loadConfig } from '../../config.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

t.test('.env.example documents every variable, and nothing else', async (t) => {
  const text = await readFile(join(PROJECT_ROOT, '.env.example'), 'utf8')
  const documented = [...text.matchAll(/^([A-Z0-9_]+)=/gm)].map((match) => match[1])
  t.same([...documented].sort(), Object.keys(EnvironmentSchema.properties).sort())
})

t.test('its values are a valid configuration', async (t) => {
  const text = await readFile(join(PROJECT_ROOT, '.env.example'), 'utf8')
  const environment = Object.fromEntries([...text.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((match) => [match[1], match[2]]))
  t.doesNotThrow(() => loadConfig(environment))
})
