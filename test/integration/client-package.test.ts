/**
 * The TypeScript client as a package: its generated types are what
 * openapi.json generates, and `npm pack` gives a tarball that installs into an
 * empty project (from the tarball, its dependencies from the registry),
 * type-checks there under strict, for Node and for a browser, and runs.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { CLIENT_ROOT, PASSWORD, startClientTestServer } from '../helpers/client-server.js'
import { PROJECT_ROOT } from '../helpers/test-server.js'

const run = promisify(execFile)
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const GENERATED = join(CLIENT_ROOT, 'src', 'generated', 'openapi.ts')

interface Manifest {
  version: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  scripts?: Record<string, string>
}
const manifest = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Manifest

t.test('the committed generated types are what openapi.json generates (run `npm run generate` in clients/typescript)', async (t) => {
  const client = await manifest(join(CLIENT_ROOT, 'package.json'))
  t.equal(client.scripts?.generate, 'openapi-typescript ../../openapi.json --output src/generated/openapi.ts', 'what `npm run generate` runs')
  const cli = join(PROJECT_ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js')
  const { stdout } = await run(process.execPath, [cli, '../../openapi.json'], { cwd: CLIENT_ROOT, maxBuffer: 16 * 1024 * 1024 })
  t.equal(await readFile(GENERATED, 'utf8'), stdout)
})

t.test('the repository tests the client with the versions the client declares', async (t) => {
  const root = await manifest(join(PROJECT_ROOT, 'package.json'))
  const client = await manifest(join(CLIENT_ROOT, 'package.json'))
  // The root installs the client's dependencies as its own devDependencies (see the root README): the same ranges.
  for (const name of Object.keys(client.dependencies ?? {})) t.equal(root.devDependencies?.[name], client.dependencies?.[name], name)
  for (const name of ['openapi-typescript', 'typescript', '@types/node']) t.equal(root.devDependencies?.[name], client.devDependencies?.[name], name)
  const generator = await manifest(join(PROJECT_ROOT, 'node_modules', 'openapi-typescript', 'package.json'))
  t.equal(generator.version, client.devDependencies?.['openapi-typescript'], 'the generator installed is the pinned one: its output is committed')
})

t.test('npm pack gives a tarball that installs into an empty project, type-checks there under strict and runs', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'taskforge-client-pack-'))
  t.teardown(() => rm(folder, { recursive: true, force: true }))

  const packed = await run('npm', ['pack', '--json', '--pack-destination', folder], { cwd: CLIENT_ROOT })
  const [tarball] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[]
  if (tarball === undefined) throw new Error('npm pack made no tarball')
  const files = tarball.files.map((file) => file.path)
  for (const path of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/webhooks.js', 'dist/webhooks.d.ts', 'dist/generated/openapi.d.ts']) {
    t.ok(files.includes(path), `the tarball has ${path}`)
  }
  t.notOk(files.some((path) => path.startsWith('examples/')), 'and no examples')

  // An empty project: the tarball, its dependencies from the registry, and Node's types (the version the repository uses).
  const project = join(folder, 'project')
  await mkdir(join(project, 'browser'), { recursive: true })
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'empty', private: true, type: 'module' }))
  const nodeTypes = await manifest(join(PROJECT_ROOT, 'node_modules', '@types', 'node', 'package.json'))
  await run('npm', ['install', '--no-audit', '--no-fund', join(folder, tarball.filename), `@types/node@${nodeTypes.version}`], { cwd: project })

  // Node: the examples as a user's code, importing "@taskforge/client" from node_modules; declarations checked too.
  const examples = (await readdir(join(CLIENT_ROOT, 'examples'))).filter((name) => name.endsWith('.ts'))
  for (const name of examples) await copyFile(join(CLIENT_ROOT, 'examples', name), join(project, name))
  const strict = { strict: true, target: 'ES2022', skipLibCheck: false }
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...strict, lib: ['ES2022'], types: ['node'], module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out' },
    include: ['*.ts']
  }))
  const node = await run(process.execPath, [TSC, '-p', project]).catch((error: unknown) => error as { stdout: string })
  t.equal(node.stdout, '', 'the examples type-check against the tarball under strict, on Node\'s types')

  // A browser app: DOM types only, no Node, resolved the way bundlers do.
  await writeFile(join(project, 'browser', 'app.ts'), [
    'import { ApiProblem, TaskforgeClient, type Task } from \'@taskforge/client\'',
    'const client = new TaskforgeClient({ baseUrl: \'/api\', onSession: (tokens) => { sessionStorage.setItem(\'refresh\', tokens?.refreshToken ?? \'\') } })',
    'export async function openTitles (): Promise<string[]> {',
    '  const tasks: Task[] = []',
    '  try {',
    '    for await (const task of client.tasks.all({ status: [\'todo\'] })) tasks.push(task)',
    '  } catch (error) {',
    '    if (!(error instanceof ApiProblem)) throw error',
    // eslint-disable-next-line no-template-curly-in-string -- the consumer's source, whose own template literal this is
    '    document.title = `${error.status} ${error.requestId ?? \'\'}`',
    '  }',
    '  return tasks.map((task) => task.title)',
    '}',
    ''
  ].join('\n'))
  await writeFile(join(project, 'browser', 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...strict, lib: ['ES2022', 'DOM'], types: [], module: 'ESNext', moduleResolution: 'Bundler', noEmit: true },
    include: ['*.ts']
  }))
  const browser = await run(process.execPath, [TSC, '-p', join(project, 'browser')]).catch((error: unknown) => error as { stdout: string })
  t.equal(browser.stdout, '', 'a browser app type-checks against the tarball under strict, on the DOM\'s types')

  // And it runs, on Node's own ESM loader: the compiled example against a live taskforge, and verifyWebhook.
  const server = await startClientTestServer(t)
  const email = await server.newUser()
  const signIn = await run(process.execPath, [join(project, 'out', 'sign-in.js')], {
    cwd: project,
    env: { PATH: process.env.PATH, TASKFORGE_URL: server.baseUrl, TASKFORGE_EMAIL: email, TASKFORGE_PASSWORD: PASSWORD, TASKFORGE_SESSION_FILE: join(folder, 'session.json') }
  })
  t.equal(signIn.stdout, `signed in as ${email}\nresumed as ${email}\n`, 'sign-in.js, compiled against the tarball, runs')
  const webhook = await run(process.execPath, ['--input-type=module', '--eval', [
    'import { Webhook } from "standardwebhooks"',
    'import { verifyWebhook } from "@taskforge/client/webhooks"',
    'const secret = "whsec_" + Buffer.alloc(32, 7).toString("base64"), body = JSON.stringify({ type: "task.deleted", data: { task: { id: "t" } } })',
    'const at = new Date(), headers = { "webhook-id": "msg", "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": new Webhook(secret).sign("msg", at, body) }',
    'console.log(verifyWebhook({ payload: body, headers, secret }).event.type)'
  ].join('\n')], { cwd: project })
  t.equal(webhook.stdout, 'task.deleted\n', '@taskforge/client/webhooks loads standardwebhooks (CommonJS) from ESM')
})
